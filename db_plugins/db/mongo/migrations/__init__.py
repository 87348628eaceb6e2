"""Mongo migrations: versioned Python files, a record of what ran, a lock document.

Each revision is a file in the section's ``MIGRATIONS_DIR`` defining
``revision``, ``down_revision`` (the previous one, ``None`` for the first),
``upgrade(db)`` and ``downgrade(db)``, where ``db`` is the pymongo
``Database``. ``make_migrations`` compares the models' collections and
indexes with the database and writes the calls that make them agree, using
the idempotent helpers below; data migrations are ordinary pymongo code
added by hand.

The package is split the way Alembic splits its own work:

- :mod:`.ops`: the helpers revision files call (``from db_plugins.db.mongo.migrations import ...``);
- :mod:`.compare`: the diff between the models and the database (autogenerate);
- :mod:`.render`: the text of a new revision file;
- :mod:`.scripts`: loading the revision files and ordering them;
- :mod:`.backend`: :class:`MongoMigrations`, the ``MigrationBackend`` the ``dbp`` commands run.
"""

from .backend import LOCK_TTL, RECORDS_COLLECTION, MongoMigrations
from .compare import Change, compare
from .ops import IndexModel, create_collection, create_indexes, drop_collection, drop_indexes
from .render import render_revision
from .scripts import Script, load_chain

__all__ = [
    "MongoMigrations",
    "RECORDS_COLLECTION",
    "LOCK_TTL",
    "Change",
    "Script",
    "compare",
    "load_chain",
    "render_revision",
    "IndexModel",
    "create_collection",
    "create_indexes",
    "drop_collection",
    "drop_indexes",
]
