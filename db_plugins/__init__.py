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

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "connect",
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
