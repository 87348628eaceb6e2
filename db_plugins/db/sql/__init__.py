"""The SQL plugin: SQLite, PostgreSQL, MariaDB/MySQL and any SQLAlchemy dialect.

``SQLConnection`` and ``SQLDatabaseCreator`` keep the seed's names;
``Base`` is a ready declarative base.
"""

from .connection import SQLConnection, SQLDatabaseCreator
from .models import Base
from .query import SQLQuery

__all__ = ["SQLConnection", "SQLDatabaseCreator", "SQLQuery", "Base"]
