"""MariaDB and MySQL (PyMySQL): multi-row INSERTs, ``ON DUPLICATE KEY``, binary collations, ``GET_LOCK``."""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from ....errors import IntegrityError
from .base import (
    CONNECTION,
    DUPLICATE,
    INTEGRITY,
    INVALID,
    RETRY,
    UNSUPPORTED,
    DriverRead,
    InsertShape,
    SQLOperations,
    released_after,
)
from .base import SQLFeatures as _Base

__all__ = ["MySQLFeatures", "MySQLOperations"]

# MySQL warning codes that INSERT IGNORE may raise for the rows it skips.
_DUPLICATE_WARNINGS = {1062, 1586}
# Multi-row statements are cut at about this many characters (PyMySQL's own
# executemany cuts at 1,024,000 bytes; MariaDB's max_allowed_packet is 16 MiB).
MULTIROW_CHARS = 1_000_000
_NO_PARAMETERS = {"no_parameters": True}
# PyMySQL's own pattern for the VALUES part of an INSERT it can send as multi-row.
_INSERT_VALUES = re.compile(
    r"\s*((?:INSERT|REPLACE)\b.+\bVALUES?\s*)"
    r"(\(\s*(?:%s|%\(.+\)s)\s*(?:,\s*(?:%s|%\(.+\)s)\s*)*\))"
    r"(\s*(?:ON DUPLICATE.*)?);?\s*\Z",
    re.IGNORECASE | re.DOTALL,
)


class MySQLFeatures(_Base):
    async_driver = "aiomysql"
    upsert = "on_duplicate_key"
    autocommit_pool = True
    # A replica is read_only by convention; its lag (SHOW REPLICA STATUS) needs a privilege.
    replica_state_sql = "SELECT @@global.read_only, NULL"
    upsert_any_unique_key = True
    integer_widths = True
    nulls_sort_low = True
    sort_collation = "utf8mb4_bin"
    exact_string_equality = False
    max_nesting = 31
    refused_floats = frozenset({"nan", "inf"})
    # A plain DateTime is DATETIME(0), whole seconds; mysql.DATETIME(fsp=6) keeps microseconds.
    datetime_precision = None
    # PyMySQL waits forever for a reply by default. 15 minutes bounds a server
    # that stopped answering, and is longer than any wait dbp itself asks the
    # server for (the migration lock waits up to LOCK_TIMEOUT, 10 minutes).
    # Override in ENGINE_OPTIONS["connect_args"] (seconds; None: no limit).
    connect_args = {"connect_timeout": 10, "read_timeout": 900, "write_timeout": 900}

    def __init__(self, dialect: sa.engine.Dialect, url: sa.engine.URL | None = None) -> None:
        super().__init__(dialect, url)
        # asyncmy 0.2's protocol takes every byte the server sends (no pause_reading).
        self.stream_flow_control = dialect.driver != "asyncmy"


class _Utf8mb4(ColumnElement):
    """``CONVERT(expr USING utf8mb4)``, so a binary utf8mb4 collation applies to any column charset."""

    inherit_cache = True
    # What its cache key is made of: without it a statement holding one has none, and is
    # compiled anew at every call (string filters, keyset pages ordered by a string).
    _traverse_internals = [("expr", InternalTraversal.dp_clauseelement)]

    def __init__(self, expr: ColumnElement) -> None:
        self.expr = expr
        self.type = expr.type


@compiles(_Utf8mb4)
def _compile_utf8mb4(element: _Utf8mb4, compiler: Any, **kw: Any) -> str:
    return f"CONVERT({compiler.process(element.expr, **kw)} USING utf8mb4)"


class MySQLOperations(SQLOperations):
    features: MySQLFeatures

    def engine_options(self, url: sa.engine.URL) -> dict[str, Any]:
        options = super().engine_options(url)
        # As on PostgreSQL: each statement sees what others committed before it,
        # which get_or_create's lock-then-read relies on.
        options["isolation_level"] = "READ COMMITTED"
        return options

    def insert(self, table: sa.Table) -> Any:
        from sqlalchemy.dialects.mysql import insert

        return insert(table)

    def upsert_statement(self, table: sa.Table, mode: str, target: Sequence[str], others: Sequence[str]) -> Any:
        stmt = self.insert(table)
        if mode == "ignore":
            return stmt.prefix_with("IGNORE")
        return stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in (others or target[:1])})

    def upsert_rows(self, connection: sa.Connection, shape: InsertShape, rows: list[dict[str, Any]]) -> int:
        if shape.mode == "ignore":
            result = connection.execute(sa.insert(shape.table).prefix_with("IGNORE").values(rows))
            _check_ignore_warnings(connection)
            return result.rowcount
        connection.execute(shape.statement(list(rows[0]) if rows else []), rows)
        return len(rows)

    def _integer_bits(self, type_: sa.types.TypeEngine) -> int:
        from sqlalchemy.dialects.mysql import MEDIUMINT, TINYINT

        if isinstance(type_, TINYINT):
            return 8
        return 24 if isinstance(type_, MEDIUMINT) else super()._integer_bits(type_)

    def datetime_base(self) -> type:
        from sqlalchemy.dialects.mysql import DATETIME

        return DATETIME  # keeps the column's fsp when a plain DateTime is adapted

    def datetime_digits(self, type_: sa.types.TypeEngine) -> int:
        return min(getattr(type_, "fsp", None) or 0, 6)

    def on_engine(self, engine: sa.engine.Engine) -> None:
        if engine.dialect.driver == "pymysql":

            @event.listens_for(engine, "do_connect")
            def _handshake(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
                # PyMySQL reads the server's greeting with read_timeout: a server that accepts
                # and never greets would hold connect() that long. The handshake gets
                # connect_timeout; the connection then reads with its own read_timeout.
                read, limit = cparams.get("read_timeout"), cparams.get("connect_timeout")
                if not limit or (read is not None and read <= limit):
                    return None
                connection = dialect.loaded_dbapi.connect(*cargs, **{**cparams, "read_timeout": limit})
                connection._read_timeout = read  # PyMySQL applies it to the socket before each read
                return connection

        driver = engine.dialect.driver

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, record: Any) -> None:
            if driver == "aiomysql":
                _escape_bytes_as_pymysql(dbapi_connection.driver_connection)
            cursor = dbapi_connection.cursor()
            # INSERT IGNORE turns errors into warnings; we read them all back.
            cursor.execute("SET SESSION max_error_count = 65535")
            # An explicit 0 in an AUTO_INCREMENT column would otherwise mean "generate a
            # key": 0 is a key like any other, as on every other engine. The server's
            # other modes are kept.
            cursor.execute(
                "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'NO_AUTO_VALUE_ON_ZERO')"
            )
            cursor.close()

    def driver_read(self, driver: str) -> DriverRead | None:
        return _aiomysql_read if driver == "aiomysql" else None

    def detect(self, connection: sa.engine.Connection) -> None:
        # MariaDB has INSERT ... RETURNING from 10.5 (MySQL has none): SQLAlchemy knows once it
        # has seen the server's version, after the features were made.
        self.features.returning = bool(connection.dialect.insert_returning)
        names = set(
            connection.exec_driver_sql(
                "SELECT COLLATION_NAME FROM information_schema.COLLATIONS "
                "WHERE COLLATION_NAME IN ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin')"
            ).scalars()
        )
        # NO PAD: 'a' and 'a ' differ, as everywhere else.
        for name in ("utf8mb4_nopad_bin", "utf8mb4_0900_bin"):
            if name in names:
                self.features.sort_collation = name
                break

    def binary_string(self, expr: ColumnElement) -> ColumnElement:
        return sa.collate(_Utf8mb4(expr), self.features.sort_collation)

    @contextlib.contextmanager
    def lock(self, connection: sa.engine.Connection, name: str, timeout: float = 60) -> Iterator[None]:
        key = "dbp:" + hashlib.blake2b(name.encode(), digest_size=16).hexdigest()
        got = connection.execute(sa.text("SELECT GET_LOCK(:k, :t)"), {"k": key, "t": int(timeout)}).scalar()
        connection.commit()
        if got != 1:
            raise TimeoutError(f"could not take lock {name!r} within {timeout} s")
        with released_after(connection, "SELECT RELEASE_LOCK(:k)", {"k": key}):
            yield

    def classify(self, orig: BaseException) -> str | None:
        code = orig.args[0] if getattr(orig, "args", None) and isinstance(orig.args[0], int) else None
        if code in (1062, 1586):
            return DUPLICATE
        if code in (1048, 1364, 1451, 1452, 1216, 1217, 3819, 4025):
            return INTEGRITY
        if code in (1213, 1205):
            return RETRY
        if code in (1040, 1044, 1045, 1049, 1152, 1927, 2002, 2003, 2005, 2006, 2013, 2014, 2055):
            return CONNECTION
        if code is None and type(orig).__name__ in ("OperationalError", "InterfaceError"):
            return CONNECTION
        if code == 1436:  # thread stack overrun: an expression too deep
            return UNSUPPORTED
        if code is None and "can not be used with MySQL" in str(orig):  # PyMySQL's escaping refused a value
            return INVALID
        return None

    # -- bulk_insert: multi-row INSERT ----------------------------------------------

    def fast_insert(
        self, connection: sa.Connection, shape: InsertShape, columns: list[Sequence[Any]], n: int
    ) -> int | None:
        """Multi-row ``INSERT ... VALUES (...), (...)`` statements of about 1 MB rendered with the
        driver's own escaping (what PyMySQL's ``executemany`` does), one at a time so that
        ``INSERT IGNORE`` warnings can be read after each; ``None`` for a driver without it."""
        # PyMySQL's escape() (what its own executemany renders rows with) gives str;
        # a driver without it, or whose escape() gives bytes, takes SQLAlchemy's path.
        escape = getattr(connection.connection.driver_connection, "escape", None)
        parts = self._multirow_parts(shape)
        if parts is None or escape is None or not isinstance(escape(""), str):
            return None
        prefix, template, suffix = parts
        rendered = (template % tuple(map(escape, row)) for row in zip(*shape.processed(columns)))
        inserted = 0
        for values in _as_sqlalchemy_error(connection, _cut(rendered, MULTIROW_CHARS - len(prefix) - len(suffix))):
            # no_parameters: the rendered values may hold "%", which must not be read as a placeholder.
            result = connection.exec_driver_sql(prefix + ",".join(values) + suffix, execution_options=_NO_PARAMETERS)
            if shape.mode == "ignore":
                _check_ignore_warnings(connection)
                inserted += result.rowcount
        return inserted if shape.mode == "ignore" else n

    def _multirow_parts(self, shape: InsertShape) -> tuple[str, str, str] | None:
        parts = shape.cache.get("multirow")
        if parts is None:
            sql = shape.driver_sql()
            match = _INSERT_VALUES.match(sql) if sql and self.dialect.paramstyle in ("format", "pyformat") else None
            # The statement goes out without parameters: undo the paramstyle's %% escaping.
            parts = (match.group(1) % (), match.group(2), match.group(3) % ()) if match else ("", "", "")
            shape.cache["multirow"] = parts
        return parts if parts[1] else None


async def _aiomysql_read(adapter: Any, compiled: Any, params: Sequence[Any]) -> Any:
    """aiomysql's cursor, opened, run, read and closed in one coroutine (the adapter awaits each
    step from the greenlet in turn). Its cursor class is the adapter's: the one that does not
    ask the server for warnings after a statement that left some."""
    cursor = await adapter.driver_connection.cursor(adapter.dbapi.Cursor)
    await cursor.execute(compiled.sql, params)
    rows = await cursor.fetchall()
    await cursor.close()
    return rows


def _escape_bytes_as_pymysql(connection: Any) -> None:
    """Escape bytes on this aiomysql connection as PyMySQL does (``X'<hex>'``).

    aiomysql 0.3.2 escapes bytes with a PyMySQL helper that PyMySQL 1.2.3 replaced
    by a placeholder string (aio-libs/aiomysql#1080): every bytes parameter fails
    with ``TypeError: 'str' object is not callable``. Nothing changes where the
    helper is still a function.
    """
    from aiomysql import connection as module

    if callable(getattr(module, "escape_bytes_prefixed", None)):
        return
    escape = connection.escape

    def escape_fixed(obj: Any) -> str:
        if isinstance(obj, (bytes, bytearray)):
            return f"X'{obj.hex()}'"
        return escape(obj)

    connection.escape = escape_fixed  # the instance's: its cursors and literal() call self.escape


def _check_ignore_warnings(connection: sa.Connection) -> None:
    # INSERT IGNORE also downgrades NOT NULL and conversion errors to warnings;
    # anything but a duplicate key among them makes the whole write fail.
    for _level, code, message in connection.exec_driver_sql("SHOW WARNINGS").all():
        if int(code) not in _DUPLICATE_WARNINGS:
            raise IntegrityError(f"bulk_insert: {message}")


def _as_sqlalchemy_error(connection: sa.Connection, items: Iterator[Any]) -> Iterator[Any]:
    """``items``, with a driver error raised while making them (PyMySQL's ``escape()`` refusing a
    value) as SQLAlchemy would have wrapped it, so the connection translates it like any other."""
    dbapi = connection.dialect.loaded_dbapi
    while True:
        try:
            item = next(items)
        except StopIteration:
            return
        except dbapi.Error as exc:
            raise sa.exc.DBAPIError.instance(None, None, exc, dbapi.Error, dialect=connection.dialect) from exc
        yield item


def _cut(parts: Iterable[str], limit: int) -> Iterator[list[str]]:
    """Consecutive lists of ``parts`` of at most ``limit`` characters (at least one part each)."""
    chunk: list[str] = []
    size = 0
    for part in parts:
        if chunk and size + len(part) + 1 > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(part)
        size += len(part) + 1
    if chunk:
        yield chunk
