"""What each SQL engine can do, declared once per dialect family.

Shared code (query, bulk, filters) asks these objects -- ``features.upsert``,
``features.sort_collation``, ``features.lock(...)`` -- and never which
database it is talking to. A dialect without an entry gets :class:`SQLFeatures`,
the portable lowest common denominator.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement

from ...values import DATETIME_RANGE, INT64_MAX, INT64_MIN

__all__ = ["SQLFeatures", "SQLiteFeatures", "PostgreSQLFeatures", "MySQLFeatures", "features_for"]

DUPLICATE, INTEGRITY, CONNECTION, RETRY = "duplicate", "integrity", "connection", "retry"
#: A statement beyond the engine's limits (too many parameters, an expression too deep).
UNSUPPORTED = "unsupported"
#: A value the driver or the server cannot take: the caller's data, not the server, is at fault.
INVALID = "invalid"


class SQLFeatures:
    """Capabilities of a SQLAlchemy dialect; the defaults are the portable choices."""

    #: ``db.transaction()`` is available (the same flag exists on every plugin).
    transactions: bool = True
    #: A failing ``bulk_insert`` writes nothing (the same flag exists on every plugin).
    atomic_bulk: bool = True
    #: How ``bulk_insert(on_conflict=...)`` is expressed: ``"on_conflict"``
    #: (``INSERT ... ON CONFLICT (conflict key)``), ``"on_duplicate_key"`` (MySQL:
    #: it fires on any unique key, so where another one could collide the existing
    #: conflict keys are read first, as with ``None``), or ``None`` (read the
    #: existing keys first, then insert / update).
    upsert: str | None = None
    #: ``bulk_insert`` sends rows with ``COPY ... FROM STDIN`` through the driver (PostgreSQL).
    copy_from: bool = False
    #: How ``bulk_insert`` sends rows otherwise: ``"driver"`` (the driver's own
    #: ``executemany`` with positional tuples: fast when it steps one prepared
    #: statement, as sqlite3 does), ``"multirow"`` (multi-row ``VALUES`` rendered
    #: with the driver's escaping, as PyMySQL's ``executemany`` does) or
    #: ``"sqlalchemy"`` (SQLAlchemy's executemany, ``insertmanyvalues``).
    bulk_executemany: str = "sqlalchemy"
    #: ``ORDER BY x ASC`` already puts NULLs first (and DESC last).
    nulls_sort_low: bool = True
    #: Collation giving code-point string order, or ``None`` when the default does.
    sort_collation: str | None = None
    #: ``=`` on strings is already exact (no case folding, no pad-space).
    exact_string_equality: bool = True
    #: Statement opening a transaction that will write (SQLite takes its write lock up front).
    write_begin: str | None = None
    #: Values in ``CASE`` expressions need an explicit ``CAST`` to the column type.
    typed_case_values: bool = False
    #: ``find_all(paginate=False)`` reads one server-side cursor (else keyset batches,
    #: each in a short transaction of its own).
    stream_cursor: bool = True
    #: Rows per statement / COPY chunk in bulk writes.
    bulk_batch_size: int = 5000
    #: A single read statement outside ``db.transaction()`` runs in the driver's
    #: autocommit mode: no ``BEGIN`` before it, no ``ROLLBACK`` after it. Only
    #: where switching modes costs no round trip (psycopg2's own ``autocommit``
    #: attribute: a client-side flag, unlike SQLAlchemy's isolation-level reset).
    read_autocommit: bool = False
    #: Reads outside ``db.transaction()`` run on a second pool whose connections stay in
    #: autocommit mode, where the driver cannot switch modes without a round trip and the
    #: pool's reset would send a ``ROLLBACK`` after every read (PyMySQL).
    autocommit_pool: bool = False
    #: Strings may hold NUL (``\x00``) characters (PostgreSQL's text types cannot).
    nul_in_strings: bool = True
    #: The engine refuses a string longer than its ``VARCHAR(n)`` column (SQLite stores
    #: it whole: there a longer string is refused before it is sent, as elsewhere).
    string_lengths: bool = True
    #: Levels of nesting a JSON value may have (MariaDB's JSON_VALID refuses 32).
    max_nesting: int = 100
    #: Float values the engine cannot store, refused on writes: ``"nan"``, ``"inf"``
    #: (SQLite reads NaN back as NULL; MariaDB has neither).
    refused_floats: frozenset[str] = frozenset()
    #: Significant digits a decimal (``Numeric``) column keeps whatever its declared
    #: precision, or ``None`` when it keeps them all (SQLite stores a double: 15).
    #: A value with more is refused on writes rather than rounded.
    decimal_digits: int | None = None
    #: An integer column holds what its declared type holds (``SmallInteger``: 16 bits,
    #: ``Integer``: 32, ``BigInteger``: 64; unsigned where declared so): a larger value is
    #: refused before it is sent, naming the field. SQLite stores 64 bits in any of them.
    integer_widths: bool = False
    #: Fractional-second digits a datetime keeps (6: microseconds); ``None``: per column
    #: (MariaDB: the column's ``fsp``, 0 for a plain ``DateTime``), see :meth:`datetime_digits`
    #: (PostgreSQL: fewer in a ``TIMESTAMP(p)`` column). Finer digits are cut on writes and
    #: filter operands alike (db_plugins.values).
    datetime_precision: int | None = 6
    #: A ``DateTime(timezone=True)`` column stores the offset (PostgreSQL's ``timestamptz``);
    #: elsewhere db-plugins stores the UTC value and reads it back aware in UTC.
    datetime_timezones: bool = False
    #: The datetimes (naive UTC) the engine stores; a value outside is refused.
    datetime_range: tuple[dt.datetime, dt.datetime] = DATETIME_RANGE
    #: Default ``connect_args`` (timeouts) merged under the user's.
    connect_args: dict[str, Any] = {}
    #: The engine has read replicas a ``REPLICAS`` setting can name.
    replication: bool = True
    #: One row, ``(is a read-only standby, seconds behind the primary)``, either ``None``
    #: where the engine cannot tell; ``None``: nothing to ask.
    replica_state_sql: str | None = None
    #: A pooled connection idle longer than this many seconds is pinged before use
    #: (``None``: never; a file has no server to lose).
    idle_ping_seconds: float | None = 1.0

    def __init__(self, dialect: sa.engine.Dialect) -> None:
        self.dialect = dialect
        self.returning = bool(getattr(dialect, "insert_returning", False))
        self.update_returning = bool(getattr(dialect, "update_returning", False))

    @property
    def name(self) -> str:
        return self.dialect.name

    # -- engine set-up ----------------------------------------------------------

    def engine_options(self, url: sa.engine.URL) -> dict[str, Any]:
        """Defaults for ``create_engine`` (the user's ``ENGINE_OPTIONS`` win)."""
        return {"connect_args": dict(self.connect_args)}

    def ping_idle_connections(self, engine: sa.engine.Engine) -> None:
        """Ping a pooled connection before use when it sat idle over :attr:`idle_ping_seconds`.

        SQLAlchemy's ``pool_pre_ping`` pings at every checkout: a round trip per
        call that doubled ``find_one`` on a server. A connection in steady use
        skips it; one that waited (where a restart or an idle timeout can have
        cut it) is tested, and replaced when dead. A connection cut within the
        last second fails its call with ``ConnectionError`` and the pool is
        renewed for the next. ``ENGINE_OPTIONS={"pool_pre_ping": True}`` still
        pings every time.
        """
        limit = self.idle_ping_seconds
        if limit is None:
            return
        dialect = engine.dialect

        @event.listens_for(engine, "checkin")
        def _checkin(dbapi_connection: Any, record: Any) -> None:
            record.info["dbp_idle_since"] = time.monotonic()

        @event.listens_for(engine, "checkout")
        def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
            since = record.info.pop("dbp_idle_since", None)
            if since is None or time.monotonic() - since <= limit:
                return
            try:
                dialect.do_ping(dbapi_connection)
            except dialect.loaded_dbapi.Error as exc:
                if dialect.is_disconnect(exc, dbapi_connection, None):
                    raise sa.exc.DisconnectionError(str(exc)) from exc  # the pool connects anew
                raise

    def on_engine(self, engine: sa.engine.Engine) -> None:
        """Install per-connection hooks; called once per engine."""

    def detect(self, connection: sa.engine.Connection) -> None:
        """Refine the flags from the live server (collations, versions)."""

    def integer_range(self, type_: sa.types.TypeEngine) -> tuple[int, int]:
        """The smallest and largest integer a column of ``type_`` holds here (see :attr:`integer_widths`)."""
        while isinstance(type_, sa.types.TypeDecorator):
            type_ = type_.impl_instance
        if not self.integer_widths:
            return INT64_MIN, INT64_MAX
        bits = self._integer_bits(type_)
        if getattr(type_, "unsigned", False):
            return 0, 2**bits - 1
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def _integer_bits(self, type_: sa.types.TypeEngine) -> int:
        if isinstance(type_, sa.BigInteger):
            return 64
        return 16 if isinstance(type_, sa.SmallInteger) else 32

    def datetime_base(self) -> type:
        """The dialect's own type for ``DateTime`` columns (what db_plugins.db.sql.datetimes extends)."""
        return self.dialect.colspecs.get(sa.DateTime, sa.DateTime)

    def datetime_digits(self, type_: sa.types.TypeEngine) -> int:
        """Fractional-second digits a column of the (dialect-adapted) datetime ``type_`` keeps."""
        return 6 if self.datetime_precision is None else self.datetime_precision

    # -- statements -------------------------------------------------------------

    def insert(self, table: sa.Table) -> Any:
        return sa.insert(table)

    def bulk_processor(
        self, impl: sa.types.TypeEngine, process: Callable[[Any], Any]
    ) -> Callable[[Sequence[Any]], Sequence[Any]] | None:
        """A faster equivalent of ``process`` (``impl``'s bind processor) over a whole column, or ``None``.

        Used by ``bulk_insert``'s fast paths; it must give exactly what ``process`` gives.
        """
        from .datetimes import DbpDateTime

        if isinstance(impl, DbpDateTime):
            return impl.column_processor(self.dialect)
        return None

    def binary_string(self, expr: ColumnElement) -> ColumnElement:
        """``expr`` compared and sorted in code-point order."""
        return sa.collate(expr, self.sort_collation) if self.sort_collation else expr

    def string_equals(self, column: ColumnElement, value: Any) -> ColumnElement:
        """Exact (case-sensitive, pad-sensitive) equality that can still use an index."""
        if self.exact_string_equality:
            return column == value
        return sa.and_(column == value, self.binary_string(column) == value)

    @contextlib.contextmanager
    def lock(self, connection: sa.engine.Connection, name: str, timeout: float = 60) -> Iterator[None]:
        """Hold a lock named ``name``, shared by every client of the database, for the block.

        ``connection`` must not be in a transaction: the lock outlives the
        transactions run inside the block, so what they wrote is committed
        before the next holder looks. The portable fallback relies on the
        transactions' own locks (SQLite's ``BEGIN IMMEDIATE`` serializes writers).
        """
        yield

    # -- errors -----------------------------------------------------------------

    def classify(self, orig: BaseException) -> str | None:
        """``"duplicate"``, ``"integrity"``, ``"connection"``, ``"retry"``, ``"unsupported"`` or ``None``
        for a driver error."""
        return None


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


_SQLITE_DATETIME = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"


class SQLiteFeatures(SQLFeatures):
    upsert = "on_conflict"
    refused_floats = frozenset({"nan"})
    decimal_digits = 15
    string_lengths = False
    idle_ping_seconds = None
    nulls_sort_low = True
    write_begin = "BEGIN IMMEDIATE"
    replication = False  # a file: no server to replicate it
    bulk_batch_size = 10000
    bulk_executemany = "driver"

    def insert(self, table: sa.Table) -> Any:
        from sqlalchemy.dialects.sqlite import insert

        return insert(table)

    def engine_options(self, url: sa.engine.URL) -> dict[str, Any]:
        options = super().engine_options(url)
        options["connect_args"].setdefault("timeout", 60)
        if self._in_memory(url):
            # One shared in-memory database for every thread, not one per
            # connection; a long read on that one connection would sit inside
            # every write, so streams read in keyset batches instead.
            options["poolclass"] = sa.pool.StaticPool
            options["connect_args"]["check_same_thread"] = False
            self.stream_cursor = False
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

    @staticmethod
    def _in_memory(url: sa.engine.URL) -> bool:
        return url.database in (None, "", ":memory:") or "mode=memory" in str(url.database)

    def on_engine(self, engine: sa.engine.Engine) -> None:
        # pysqlite's own transaction handling starts DEFERRED transactions late;
        # we take over BEGIN so writers lock up front (no SQLITE_BUSY on upgrade)
        # and SAVEPOINTs work.
        wal = not self._in_memory(engine.url)

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, record: Any) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            if wal:
                # Readers and the writer do not block each other (a stream can
                # stay open while its rows are updated).
                _use_wal(cursor)
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: sa.engine.Connection) -> None:
            options = connection.get_execution_options()
            if options.get("dbp_read"):
                return  # one read statement: SQLite gives it a snapshot of its own
            connection.exec_driver_sql(self.write_begin if options.get("dbp_write") else "BEGIN")

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


def _use_wal(cursor: Any, patience: float = 30.0) -> None:
    """Switch the database to WAL unless it is already (the mode is stored in the file)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except Exception as exc:
            # A connection that meets another converting the same new file gets
            # SQLITE_BUSY at once: the busy timeout does not cover this switch.
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


_SQLITE_LIMITS = ("too many SQL variables", "Expression tree is too large", "too many terms", "parser stack overflow")


class PostgreSQLFeatures(SQLFeatures):
    upsert = "on_conflict"
    integer_widths = True
    copy_from = True
    read_autocommit = True
    typed_case_values = True
    nulls_sort_low = False
    sort_collation = "C"
    nul_in_strings = False
    datetime_timezones = True
    # The replay timestamp alone grows while the primary is idle: a standby that has
    # replayed all it received is not behind.
    replica_state_sql = (
        "SELECT pg_is_in_recovery(), CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
        "ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END"
    )
    # Each COPY costs round trips of its own; 20,000 rows of CSV are a few MB.
    bulk_batch_size = 20000
    # libpq has no read timeout. A server that refuses or does not answer the
    # connect fails within connect_timeout; a peer that vanishes (host down,
    # network cut) is noticed by TCP keepalives within about a minute, instead
    # of the system's default two hours. (A query's own duration is the server's
    # statement_timeout to bound.)
    connect_args = {
        "connect_timeout": 10,
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }

    def insert(self, table: sa.Table) -> Any:
        from sqlalchemy.dialects.postgresql import insert

        return insert(table)

    def datetime_base(self) -> type:
        from sqlalchemy.dialects.postgresql import TIMESTAMP

        return TIMESTAMP  # keeps a TIMESTAMP(p) column's precision when a DateTime is adapted

    def datetime_digits(self, type_: sa.types.TypeEngine) -> int:
        # timestamp(p) keeps p digits (and the server would round the rest: they are cut first).
        precision = getattr(type_, "precision", None)
        return 6 if precision is None else min(precision, 6)

    def on_engine(self, engine: sa.engine.Engine) -> None:
        if engine.dialect.driver == "psycopg2":
            from .datetimes import register_psycopg2_timestamptz

            # Year 1 UTC is in 1 BC in a session time zone west of UTC: psycopg2 alone cannot read it.
            event.listen(
                engine, "connect", lambda dbapi_connection, record: register_psycopg2_timestamptz(dbapi_connection)
            )

    def detect(self, connection: sa.engine.Connection) -> None:
        row = (
            connection.exec_driver_sql("SELECT * FROM pg_database WHERE datname = current_database()")
            .mappings()
            .first()
        )
        provider = (row or {}).get("datlocprovider", "c")
        collate = str((row or {}).get("datcollate", "")).lower()
        # A libc C locale already sorts by code point, and leaving COLLATE out
        # keeps plain indexes usable for ORDER BY and ranges. (An ICU default
        # never does, whatever datcollate says.)
        if provider in ("c", b"c") and collate in ("c", "posix", "c.utf-8", "c.utf8"):
            self.sort_collation = None

    @contextlib.contextmanager
    def lock(self, connection: sa.engine.Connection, name: str, timeout: float = 60) -> Iterator[None]:
        key = _lock_key(name)
        connection.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        connection.commit()
        try:
            yield
        finally:
            if connection.in_transaction():
                connection.rollback()
            connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            connection.commit()

    def classify(self, orig: BaseException) -> str | None:
        code = getattr(orig, "pgcode", None)
        if code == "23505":
            return DUPLICATE
        if code and code.startswith("23"):
            return INTEGRITY
        if code in ("40P01", "40001", "55P03"):
            return RETRY
        if code is None and type(orig).__name__ in ("OperationalError", "InterfaceError"):
            return CONNECTION
        if code and (code.startswith(("08", "57P", "28", "3D")) or code == "53300"):
            return CONNECTION
        if code and code.startswith("54"):  # program_limit_exceeded: statement too complex, too many arguments
            return UNSUPPORTED
        return None


class _Utf8mb4(ColumnElement):
    """``CONVERT(expr USING utf8mb4)``, so a binary utf8mb4 collation applies to any column charset."""

    inherit_cache = True

    def __init__(self, expr: ColumnElement) -> None:
        self.expr = expr
        self.type = expr.type


@compiles(_Utf8mb4)
def _compile_utf8mb4(element: _Utf8mb4, compiler: Any, **kw: Any) -> str:
    return f"CONVERT({compiler.process(element.expr, **kw)} USING utf8mb4)"


class MySQLFeatures(SQLFeatures):
    upsert = "on_duplicate_key"
    autocommit_pool = True
    integer_widths = True
    bulk_executemany = "multirow"
    nulls_sort_low = True
    sort_collation = "utf8mb4_bin"
    exact_string_equality = False
    max_nesting = 31
    refused_floats = frozenset({"nan", "inf"})
    # A replica is read_only by convention; its lag (SHOW REPLICA STATUS) needs a privilege.
    replica_state_sql = "SELECT @@global.read_only, NULL"
    # A plain DateTime is DATETIME(0), whole seconds; mysql.DATETIME(fsp=6) keeps microseconds.
    datetime_precision = None
    # PyMySQL waits forever for a reply by default. 15 minutes bounds a server
    # that stopped answering, and is longer than any wait dbp itself asks the
    # server for (the migration lock waits up to LOCK_TIMEOUT, 10 minutes).
    # Override in ENGINE_OPTIONS["connect_args"] (seconds; None: no limit).
    connect_args = {"connect_timeout": 10, "read_timeout": 900, "write_timeout": 900}

    def engine_options(self, url: sa.engine.URL) -> dict[str, Any]:
        options = super().engine_options(url)
        # As on PostgreSQL: each statement sees what others committed before it,
        # which get_or_create's lock-then-read relies on.
        options["isolation_level"] = "READ COMMITTED"
        return options

    def insert(self, table: sa.Table) -> Any:
        from sqlalchemy.dialects.mysql import insert

        return insert(table)

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

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, record: Any) -> None:
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

    def detect(self, connection: sa.engine.Connection) -> None:
        names = set(
            connection.exec_driver_sql(
                "SELECT COLLATION_NAME FROM information_schema.COLLATIONS "
                "WHERE COLLATION_NAME IN ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin')"
            ).scalars()
        )
        # NO PAD: 'a' and 'a ' differ, as everywhere else.
        for name in ("utf8mb4_nopad_bin", "utf8mb4_0900_bin"):
            if name in names:
                self.sort_collation = name
                break

    def binary_string(self, expr: ColumnElement) -> ColumnElement:
        return sa.collate(_Utf8mb4(expr), self.sort_collation)

    @contextlib.contextmanager
    def lock(self, connection: sa.engine.Connection, name: str, timeout: float = 60) -> Iterator[None]:
        key = "dbp:" + hashlib.blake2b(name.encode(), digest_size=16).hexdigest()
        got = connection.execute(sa.text("SELECT GET_LOCK(:k, :t)"), {"k": key, "t": int(timeout)}).scalar()
        connection.commit()
        if got != 1:
            raise TimeoutError(f"could not take lock {name!r} within {timeout} s")
        try:
            yield
        finally:
            if connection.in_transaction():
                connection.rollback()
            connection.execute(sa.text("SELECT RELEASE_LOCK(:k)"), {"k": key})
            connection.commit()

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


_BY_DIALECT: dict[str, type[SQLFeatures]] = {
    "sqlite": SQLiteFeatures,
    "postgresql": PostgreSQLFeatures,
    "mysql": MySQLFeatures,
    "mariadb": MySQLFeatures,
}


def features_for(dialect: sa.engine.Dialect) -> SQLFeatures:
    """The features object for ``dialect`` (a fresh one: :meth:`SQLFeatures.detect` refines it per server)."""
    return _BY_DIALECT.get(dialect.name, SQLFeatures)(dialect)


def key_columns(table: sa.Table) -> Sequence[sa.Column]:
    return list(table.primary_key.columns)
