"""db_plugins: one query interface and one migration tool for SQL and MongoDB databases.

>>> import db_plugins
>>> with db_plugins.connect("sqlite://") as db:
...     db.features.name
'sqlite'
"""

from .errors import (
    BulkDuplicateKeyError,
    BulkWriteError,
    ConfigError,
    ConnectionError,
    DatabaseError,
    DBPluginsError,
    DuplicateKeyError,
    FieldNotLoaded,
    FilterError,
    IntegrityError,
    MigrationError,
    NotFoundError,
    UnsupportedOperation,
    ValidationError,
)
from .pagination import Pagination
from .registry import connect


def __getattr__(name: str) -> object:
    # The asyncio API loads its drivers' glue (greenlet) only when asked for.
    if name == "connect_async":
        from .aio import connect_async

        return connect_async
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "__version__",
    "connect",
    "connect_async",
    "Pagination",
    "DBPluginsError",
    "ConfigError",
    "FieldNotLoaded",
    "FilterError",
    "ValidationError",
    "IntegrityError",
    "DuplicateKeyError",
    "BulkWriteError",
    "BulkDuplicateKeyError",
    "NotFoundError",
    "ConnectionError",
    "UnsupportedOperation",
    "MigrationError",
    "DatabaseError",
]
