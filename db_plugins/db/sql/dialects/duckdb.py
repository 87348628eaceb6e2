"""DuckDB (duckdb-engine): the generic dialect's paths, with DuckDB's gaps declared as flags.

DuckDB runs on the portable paths of :class:`~.base.SQLOperations` (SQLAlchemy's
executemany, keys read before ``"ignore"``/``"update"``, no lock); the flags
below say where it differs from the generic defaults, and the operations only
teach duckdb-engine's SQL compiler DuckDB's own keywords.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from .base import CONNECTION, DUPLICATE, INTEGRITY, RETRY, SQLFeatures, SQLOperations

__all__ = ["DuckDBFeatures", "DuckDBOperations"]

# The locks held or awaited in this process: (database, name) -> [lock, holders and waiters].
_LOCKS: dict[tuple[str, str], list[Any]] = {}
_GUARD = threading.Lock()


class DuckDBFeatures(SQLFeatures):
    # SQLAlchemy's DDL (through duckdb-engine's PostgreSQL base) gives a generated key a
    # SERIAL type, which DuckDB lacks: create_db gives it a sequence instead.
    sequence_keys = True
    # INTEGER is 32 bits, SMALLINT 16 (and the server refuses what does not fit).
    integer_widths = True
    # ORDER BY x ASC puts NULLs last.
    nulls_sort_low = False
    savepoints = False
    one_process = True
    # VARCHAR(n) is not enforced: a longer string is refused before it is sent, as on SQLite.
    string_lengths = False


class DuckDBOperations(SQLOperations):
    features: DuckDBFeatures

    def detect(self, connection: sa.engine.Connection) -> None:
        # duckdb-engine quotes PostgreSQL's reserved words only: a column named "at"
        # (a DuckDB keyword) would be a syntax error. Each dialect instance gets its own set.
        words = set(
            connection.exec_driver_sql(
                "SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category <> 'unreserved'"
            ).scalars()
        )
        for dialect in (connection.dialect, self.dialect):
            preparer = dialect.identifier_preparer
            preparer.reserved_words = preparer.reserved_words | words

    @contextlib.contextmanager
    def lock(self, connection: sa.engine.Connection, name: str, timeout: float = 60) -> Iterator[None]:
        # DuckDB's optimistic transactions do not serialize a read and a later insert,
        # and it has no advisory locks. Its database file is open in one process only
        # (features.one_process), so a lock of this process is shared by every client.
        key = (connection.engine.url.render_as_string(), name)
        with _GUARD:
            entry = _LOCKS.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            if not entry[0].acquire(timeout=timeout):
                raise TimeoutError(f"could not take lock {name!r} within {timeout} s")
            try:
                yield
            finally:
                entry[0].release()
        finally:
            with _GUARD:
                entry[1] -= 1
                if not entry[1]:
                    del _LOCKS[key]

    def classify(self, orig: BaseException) -> str | None:
        kind = type(orig).__name__
        text = str(orig)
        if kind == "ConstraintException":
            return DUPLICATE if "duplicate key" in text.lower() else INTEGRITY
        if kind in ("TransactionException", "SerializationException"):
            return RETRY  # optimistic concurrency: a write conflict with another transaction
        if kind in ("IOException", "ConnectionException"):
            return CONNECTION
        return None
