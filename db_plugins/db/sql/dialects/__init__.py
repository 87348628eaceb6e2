"""One module per SQL dialect: its flags (``Features``, data) and its behaviour (``Operations``).

:func:`dialect_for` is the only place that maps a SQLAlchemy dialect to its
module; any dialect without one runs on the generic dialect of :mod:`.base`
(conservative flags, portable paths). Shared code asks ``features`` and
``ops`` -- never which database it is talking to.
"""

from __future__ import annotations

import sqlalchemy as sa

from .base import SQLFeatures, SQLOperations
from .duckdb import DuckDBFeatures, DuckDBOperations
from .mysql import MySQLFeatures, MySQLOperations
from .postgresql import PostgreSQLFeatures, PostgreSQLOperations
from .sqlite import SQLiteFeatures, SQLiteOperations

__all__ = ["dialect_for", "SQLFeatures", "SQLOperations"]

_BY_NAME: dict[str, tuple[type[SQLFeatures], type[SQLOperations]]] = {
    "sqlite": (SQLiteFeatures, SQLiteOperations),
    "postgresql": (PostgreSQLFeatures, PostgreSQLOperations),
    "mysql": (MySQLFeatures, MySQLOperations),
    "mariadb": (MySQLFeatures, MySQLOperations),
    "duckdb": (DuckDBFeatures, DuckDBOperations),
}


def dialect_for(dialect: sa.engine.Dialect, url: sa.engine.URL | None = None) -> tuple[SQLFeatures, SQLOperations]:
    """Fresh ``(features, operations)`` for ``dialect`` on the database at ``url``.

    ``features`` is decided here (``url`` tells, e.g., an in-memory SQLite database);
    ``operations.detect`` refines it once from the live server.
    """
    features_class, operations_class = _BY_NAME.get(dialect.name, (SQLFeatures, SQLOperations))
    features = features_class(dialect, url)
    return features, operations_class(dialect, features)
