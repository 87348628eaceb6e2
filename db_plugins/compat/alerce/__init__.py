"""Run code written for ALeRCE db-plugins 4.x by changing its imports only.

ALeRCE's db-plugins 4.2.7 is pinned to SQLAlchemy 1.3 and cannot move to
current Pythons. This layer gives its forms back on db-plugins, kept out of
the main API, each 4.x-only form warning (:class:`AlerceCompatWarning`) with
the modern form to move to. Change the imports so:

- ``db_plugins.db.generic`` -> ``db_plugins.compat.alerce``
- ``db_plugins.db.sql.connection``, ``db_plugins.db.sql.query`` and the
  ``Base`` of ``db_plugins.db.sql.models`` -> ``db_plugins.compat.alerce.sql``
- ``db_plugins.db.mongo.connection``, ``.query``, ``.orm`` and the
  ``BaseModel`` of ``db_plugins.db.mongo.models`` -> ``db_plugins.compat.alerce.mongo``

ALeRCE's own astronomy models (``Object``, ``Detection``...) are not part of
this layer: declare yours on :data:`db_plugins.compat.alerce.sql.Base` or
:class:`db_plugins.compat.alerce.mongo.BaseModel`. See "Coming from ALeRCE
4.x" in the documentation for every form and its modern replacement.
"""

from ...db.generic import DatabaseConnection, DatabaseCreator, new_DBConnection
from ...pagination import Pagination
from ._common import AlerceCompatWarning, NotConnectedError
from .mongo import MongoConnection, MongoDatabaseCreator, MongoQuery
from .sql import SQLConnection, SQLDatabaseCreator, SQLQuery

#: 4.x's page without a count is the same class here (``total`` is ``None``).
PaginationNoCount = Pagination

__all__ = [
    "AlerceCompatWarning",
    "NotConnectedError",
    "DatabaseConnection",
    "DatabaseCreator",
    "new_DBConnection",
    "Pagination",
    "PaginationNoCount",
    "SQLConnection",
    "SQLDatabaseCreator",
    "SQLQuery",
    "MongoConnection",
    "MongoDatabaseCreator",
    "MongoQuery",
]
