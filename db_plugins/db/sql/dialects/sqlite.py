"""SQLite (pysqlite): a file or an in-memory database in the process."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from .base import (
    CONNECTION,
    DUPLICATE,
    INTEGRITY,
    INVALID,
    RETRY,
    UNSUPPORTED,
    DriverRead,
    InsertShape,
    OnConflictOperations,
)
from .base import SQLFeatures as _Base

__all__ = ["SQLiteFeatures", "SQLiteOperations"]

_SQLITE_DATETIME = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
_SQLITE_LIMITS = ("too many SQL variables", "Expression tree is too large", "too many terms", "parser stack overflow")


def in_memory(url: sa.engine.URL | None) -> bool:
    """``url`` names an in-memory database."""
    return url is not None and (url.database in (None, "", ":memory:") or "mode=memory" in str(url.database))


class SQLiteFeatures(_Base):
    async_driver = "aiosqlite"
    upsert = "on_conflict"
    autocommit_pool = True
    replication = False  # a file: no server to replicate it
    refused_floats = frozenset({"nan"})
    decimal_digits = 15
    string_lengths = False
    idle_ping_seconds = None
    nulls_sort_low = True
    write_begin = "BEGIN IMMEDIATE"
    bulk_batch_size = 10000
    batch_migrations = True

    def __init__(self, dialect: sa.engine.Dialect, url: sa.engine.URL | None = None) -> None:
        super().__init__(dialect, url)
        # One in-memory database shared by every thread sits on one connection
        # (see SQLiteOperations.engine_options): a long read on it would sit inside
        # every write, so streams read in keyset batches instead.
        self.stream_cursor = not in_memory(url)


class SQLiteOperations(OnConflictOperations):
    features: SQLiteFeatures

    def upsert_rows(self, connection: sa.Connection, shape: Any, rows: list[dict[str, Any]]) -> int:
        # SQLite's upsert has no DEFAULT VALUES form: rows giving no column name the
        # generated key instead (NULL asks SQLite for the next one).
        generated = shape.table.autoincrement_column
        if rows and not rows[0] and generated is not None:
            rows = [{generated.key: None} for _ in rows]
        return super().upsert_rows(connection, shape, rows)

    def database_file(self, url: sa.engine.URL) -> str | None:
        if not url.database or url.database == ":memory:":
            return None
        if url.database.startswith("file:") or "mode=memory" in url.database:
            return None
        return url.database

    def in_memory(self, url: sa.engine.URL) -> bool:
        database = url.database or ""
        return database in ("", ":memory:") or url.query.get("mode") == "memory" or "mode=memory" in database

    def anchored(self, url: sa.engine.URL, base: Any) -> sa.engine.URL:
        """Relative SQLite paths are relative to the settings file, like MIGRATIONS_DIR."""
        if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
            return url
        path = Path(url.database)
        return url if path.is_absolute() else url.set(database=str(Path(base) / path))

    def insert(self, table: sa.Table) -> Any:
        from sqlalchemy.dialects.sqlite import insert

        return insert(table)

    def engine_options(self, url: sa.engine.URL) -> dict[str, Any]:
        options = super().engine_options(url)
        options["connect_args"].setdefault("timeout", 60)
        if in_memory(url):
            # One shared in-memory database for every thread, not one per connection.
            options["poolclass"] = sa.pool.StaticPool
            options["connect_args"]["check_same_thread"] = False
        return options

    def bulk_processor(
        self, impl: sa.types.TypeEngine, process: Callable[[Any], Any]
    ) -> Callable[[Sequence[Any]], Sequence[Any]] | None:
        from sqlalchemy.dialects.sqlite import DATETIME

        # SQLAlchemy formats every datetime field by field (~1 us a value); for a
        # naive datetime its default storage format is exactly isoformat(" ", "microseconds")
        # (the values given reach here checked: naive UTC for a naive column).
        if (
            isinstance(impl, DATETIME)
            and not impl.timezone
            and getattr(impl, "_storage_format", None) == _SQLITE_DATETIME
        ):

            def iso(values: Sequence[Any]) -> list[Any]:
                datetime = dt.datetime
                return [
                    v.isoformat(" ", "microseconds") if type(v) is datetime and v.tzinfo is None else process(v)
                    for v in values
                ]

            return iso
        return super().bulk_processor(impl, process)

    def fast_insert(
        self, connection: sa.Connection, shape: InsertShape, columns: list[Sequence[Any]], n: int
    ) -> int | None:
        """The driver's own ``executemany`` with positional tuples: one prepared statement, stepped per row."""
        sql = shape.driver_sql()
        if sql is None:
            return None
        result = connection.exec_driver_sql(sql, list(zip(*shape.processed(columns))))
        if shape.mode == "ignore":
            return result.rowcount  # summed over the rows; a skipped row changes nothing
        return n

    def driver_read(self, driver: str) -> DriverRead | None:
        return _aiosqlite_read if driver == "aiosqlite" else None

    def on_engine(self, engine: sa.engine.Engine) -> None:
        # pysqlite's own transaction handling starts DEFERRED transactions late;
        # we take over BEGIN so writers lock up front (no SQLITE_BUSY on upgrade)
        # and SAVEPOINTs work.
        wal = not in_memory(engine.url)
        write_begin = self.features.write_begin

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, record: Any) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            if wal:
                # Readers and the writer do not block each other (a stream can
                # stay open while its rows are updated).
                use_wal(cursor)
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: sa.engine.Connection) -> None:
            options = connection.get_execution_options()
            if options.get("dbp_read"):
                return  # one read statement: SQLite gives it a snapshot of its own
            connection.exec_driver_sql(write_begin if options.get("dbp_write") else "BEGIN")

    @contextlib.contextmanager
    def migrating(self, connection: sa.engine.Connection) -> Iterator[None]:
        # Batch migrations rebuild a table by copying it and dropping the original;
        # with foreign keys enforced, dropping a referenced table fails (Alembic's
        # batch docs say to switch them off).
        _foreign_keys(connection, False)
        try:
            yield
        finally:
            _foreign_keys(connection, True)

    def classify(self, orig: BaseException) -> str | None:
        name = getattr(orig, "sqlite_errorname", "") or ""
        text = str(orig)
        if name in ("SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE") or "UNIQUE constraint" in text:
            return DUPLICATE
        if name.startswith("SQLITE_CONSTRAINT") or type(orig).__name__ == "IntegrityError":
            return INTEGRITY
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in text:
            return RETRY
        if name.startswith(("SQLITE_CANTOPEN", "SQLITE_NOTADB", "SQLITE_IOERR")) or "unable to open" in text:
            return CONNECTION
        if name == "SQLITE_TOOBIG" or any(limit in text for limit in _SQLITE_LIMITS):
            return UNSUPPORTED
        if "Error binding parameter" in text:  # a Python type sqlite3 has no adapter for
            return INVALID
        return None


def _aiosqlite_read(adapter: Any, compiled: Any, params: Sequence[Any]) -> Awaitable[Any]:
    """aiosqlite's ``execute_fetchall``: execute and fetch in one trip to the connection's
    thread (the adapter's cursor takes four: open, execute, fetch, close)."""
    return adapter.driver_connection.execute_fetchall(compiled.sql, params)


def _foreign_keys(connection: sa.Connection, on: bool) -> None:
    # The PRAGMA is ignored inside a transaction, so it goes straight to the
    # driver connection, outside one.
    if connection.in_transaction():
        connection.rollback()
    cursor = connection.connection.cursor()  # the DBAPI's cursor (an async driver's through its adapter)
    cursor.execute(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")
    cursor.close()


def use_wal(cursor: Any, patience: float = 30.0) -> None:
    """Switch the database to WAL unless it is already (the mode is stored in the file)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            # execute() then fetchone(): the DBAPI's form, which async drivers' adapters keep too.
            cursor.execute("PRAGMA journal_mode")
            if cursor.fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except Exception as exc:
            # A connection that meets another converting the same new file gets
            # SQLITE_BUSY at once: the busy timeout does not cover this switch.
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
