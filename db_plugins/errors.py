"""The exception types shared by every plugin.

Every error the framework raises on purpose derives from :class:`DBPluginsError`,
and the native library's exception, when there is one, is kept as ``__cause__``.
"""

from __future__ import annotations

import builtins

__all__ = [
    "DBPluginsError",
    "ConfigError",
    "FilterError",
    "ValidationError",
    "IntegrityError",
    "DuplicateKeyError",
    "NotFoundError",
    "FieldNotLoaded",
    "ConnectionError",
    "UnsupportedOperation",
    "MigrationError",
    "DatabaseError",
    "BulkWriteError",
    "BulkDuplicateKeyError",
]


class DBPluginsError(Exception):
    """Base class of every error raised by db_plugins."""


class ConfigError(DBPluginsError, ValueError):
    """A settings file or a ``DB_CONFIG`` section is missing or malformed.

    The message names the section, the key and what was expected; it never
    contains a password.
    """


class FilterError(DBPluginsError, ValueError):
    """A ``filter_by`` or ``order_by`` argument is not valid for the model.

    Raised before anything is sent to the database.
    """


class ValidationError(DBPluginsError, ValueError):
    """A value does not fit the model (unknown field, wrong type, missing required field)."""

    #: In a bulk write, the index of the row at fault in the rows given (``None``: not one row's).
    row: int | None = None

    @classmethod
    def of_row(cls, row: int, problem: str, what: str = "bulk_insert") -> ValidationError:
        """``"<what> row <row>: <problem>"``, with :attr:`row` set."""
        error = cls(f"{what} row {row}: {problem}")
        error.row = row
        return error


class IntegrityError(DBPluginsError):
    """The database refused a write because of a constraint."""


class DuplicateKeyError(IntegrityError):
    """A write would have duplicated a primary key or a unique index."""


class BulkWriteError(IntegrityError):
    """A bulk write failed part-way on an engine that cannot roll it back.

    ``written`` is how many rows were stored before the failure and
    ``failed_keys`` the keys of the rows that were not. When every failure is
    a duplicate key the error raised is :class:`BulkDuplicateKeyError`, so
    ``except DuplicateKeyError`` catches it as on the atomic engines.
    """

    def __init__(self, message: str, written: int = 0, failed_keys: list | None = None):
        super().__init__(message)
        self.written = written
        self.failed_keys = list(failed_keys or [])


class BulkDuplicateKeyError(BulkWriteError, DuplicateKeyError):
    """A :class:`BulkWriteError` whose failed rows all hit a duplicate key."""


class NotFoundError(DBPluginsError, LookupError):
    """The row an operation refers to does not exist (any more)."""


class FieldNotLoaded(DBPluginsError, AttributeError):
    """A field a read left out (``fields=[...]``) was read from the instance it returned."""


class ConnectionError(DBPluginsError, builtins.ConnectionError):  # noqa: A001
    """The server could not be reached or the connection was lost.

    The message carries the URL with its password masked.
    """


class UnsupportedOperation(DBPluginsError, NotImplementedError):
    """The engine (or this server) cannot do what was asked."""


class DatabaseError(DBPluginsError):
    """The database or its driver failed an operation for a reason no other error names
    (a server fault such as an exhausted resource, a statement it could not run).

    The driver's exception is the ``__cause__``.
    """


class MigrationError(DBPluginsError):
    """A migration command could not be carried out (unknown revision, bad directory, ...)."""
