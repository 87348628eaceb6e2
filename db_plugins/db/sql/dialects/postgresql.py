"""PostgreSQL (psycopg2, asyncpg): ``COPY`` for bulk inserts, advisory locks, ``timestamptz``."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import decimal
import functools
import hashlib
import inspect
import io
import itertools
import operator
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from ...base.bridge import wait
from ..datetimes import datetime_rule, register_asyncpg_datetimes, register_psycopg2_timestamptz
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
    released_after,
)
from .base import SQLFeatures as _Base

__all__ = ["PostgreSQLFeatures", "PostgreSQLOperations"]

# psycopg2 reads the COPY buffer in chunks of this many characters.
COPY_CHUNK = 1 << 18
_NONE = type(None)

#: Per driver, what a new connection registers: psycopg2 alone cannot read year 1 UTC where the
#: session time zone is west of UTC (1 BC there); asyncpg writes years 1 and 9999 as infinities.
_DATETIME_CODECS: dict[str, Callable[[Any], None]] = {
    "psycopg2": register_psycopg2_timestamptz,
    "asyncpg": register_asyncpg_datetimes,
}


class PostgreSQLFeatures(_Base):
    async_driver = "asyncpg"
    upsert = "on_conflict"
    integer_widths = True
    autocommit_pool = True
    # The replay timestamp alone grows while the primary is idle: a standby that has
    # replayed all it received is not behind.
    replica_state_sql = (
        "SELECT pg_is_in_recovery(), CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
        "ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END"
    )
    typed_case_values = True
    nulls_sort_low = False
    sort_collation = "C"
    nul_in_strings = False
    datetime_timezones = True
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


#: SQLSTATE insufficient_privilege, and how often a drop refused with it is tried again
#: (waiting 0.2 s more each time: 9 s in all).
INSUFFICIENT_PRIVILEGE = "42501"
DROP_ATTEMPTS = 8


class PostgreSQLOperations(OnConflictOperations):
    features: PostgreSQLFeatures

    def database_statements(self, name: str) -> tuple[str, str]:
        create, drop = super().database_statements(name)
        return create, f"{drop} WITH (FORCE)"  # (a test's connections left open do not hold it)

    def drop_database(self, admin: sa.engine.Engine, name: str) -> None:
        # WITH (FORCE) ends the database's sessions, but refuses to when one is an autovacuum
        # worker (analysing freshly written tables): it has no role the dropping one may
        # signal ("must be a member of the role whose process is being terminated"). The
        # worker is soon done; until then, try again.
        for attempt in itertools.count():
            try:
                return super().drop_database(admin, name)
            except sa.exc.DBAPIError as exc:
                if getattr(exc.orig, "pgcode", None) != INSUFFICIENT_PRIVILEGE or attempt >= DROP_ATTEMPTS:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def admin_urls(self, url: sa.engine.URL) -> list[sa.engine.URL]:
        # A server always has postgres or template1; the URL's own database may not exist yet.
        return [url, url.set(database="postgres"), url.set(database="template1"), *super().admin_urls(url)]

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
        # Each driver's datetime codecs, so that both store and read the values psycopg2 does.
        register = _DATETIME_CODECS.get(engine.dialect.driver)
        if register is not None:
            event.listen(engine, "connect", lambda dbapi_connection, record: register(dbapi_connection))

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
            self.features.sort_collation = None

    @contextlib.contextmanager
    def lock(self, connection: sa.engine.Connection, name: str, timeout: float = 60) -> Iterator[None]:
        key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
        connection.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        connection.commit()
        with released_after(connection, "SELECT pg_advisory_unlock(:k)", {"k": key}):
            yield

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
        if code and code.startswith("22"):
            # data_exception (too long, out of range): psycopg2 says DataError, asyncpg's adapter only Error.
            return INVALID
        return None

    def driver_read(self, driver: str) -> DriverRead | None:
        return _asyncpg_read if driver == "asyncpg" else None

    # -- bulk_insert: COPY ----------------------------------------------------------

    def fast_insert(
        self, connection: sa.Connection, shape: InsertShape, columns: list[Sequence[Any]], n: int
    ) -> int | None:
        """``COPY ... FROM STDIN`` through the driver: CSV on psycopg2, binary on asyncpg
        (``copy_records_to_table``); for ``"ignore"``/``"update"`` into a temporary table,
        then one ``INSERT ... SELECT ... ON CONFLICT``. ``None`` when a value cannot go
        exactly as an INSERT would send it (or the driver has no COPY here)."""
        copy = _COPIERS.get(connection.dialect.driver)
        if copy is None:
            return None
        ready = _encoded(_encoders(connection, shape, copy is _copy_binary), shape, columns)
        if ready is None:
            return None
        encoded, native = ready
        rows = zip(*encoded)
        if native and copy is _copy_binary:
            copy = functools.partial(_copy_binary, native=True)
        preparer = connection.dialect.identifier_preparer
        names = [c.name for c in shape.all_columns]
        if shape.mode == "error":
            copy(connection, shape.table.name, shape.table.schema, names, rows)
            return n
        # COPY cannot skip or update conflicting rows: stage the rows, then one
        # INSERT ... SELECT ... ON CONFLICT moves them.
        # The stage table is dropped after use; should a statement fail, the transaction is
        # aborted (no DROP would run) and its rollback removes the table, as ON COMMIT DROP
        # would at the commit of a caller's transaction. Either way the real error surfaces.
        stage = "dbp_stage_" + secrets.token_hex(6)
        quoted = ", ".join(map(preparer.quote, names))
        connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS SELECT {quoted} "
            f"FROM {preparer.format_table(shape.table)} WITH NO DATA"
        )
        copy(connection, stage, None, names, rows)
        staged = sa.table(stage, *(sa.column(c.name) for c in shape.all_columns))
        stmt = shape.statement([c.key for c in shape.columns])
        stmt = stmt.from_select([c.key for c in shape.all_columns], sa.select(*staged.c))
        rowcount = connection.execute(stmt).rowcount
        connection.exec_driver_sql(f"DROP TABLE {stage}")
        return rowcount if shape.mode == "ignore" else n

    def stream_insert(self, connection: sa.Connection, shape: InsertShape, batches: Any) -> int | None:
        """asyncpg: one binary ``COPY`` of every batch, each encoded (and checked, by
        ``batches``) while asyncpg sends the last one's rows and the server takes them. Only
        batches asyncpg's own codecs send exactly (no year-1/9999 edge instant) are streamed."""
        if connection.dialect.driver != "asyncpg" or shape.mode != "error":
            return None
        if not _natively_copying(type(connection.connection.driver_connection)):
            return None
        encoders = _encoders(connection, shape, True)
        streamed = 0

        def records() -> Iterator[tuple[Any, ...]]:
            nonlocal streamed
            for columns, n in batches:
                ready = _encoded(encoders, shape, columns)
                if ready is None or not ready[1]:
                    batches.give_back()
                    return
                streamed += n
                yield from zip(*ready[0])

        stream = records()
        try:
            head = next(stream, None)
            if head is not None:  # (else the first batch went back: nothing to COPY)
                names = [c.name for c in shape.all_columns]
                rows = itertools.chain((head,), stream)
                _copy_binary(connection, shape.table.name, shape.table.schema, names, rows, native=True)
        finally:
            stream.close()
        return streamed


def _encoders(connection: sa.Connection, shape: InsertShape, binary: bool) -> list[_CopyColumn]:
    """How ``shape``'s columns go to this driver's ``COPY`` (made once per shape)."""
    key = "copy:" + connection.dialect.driver
    encoders = shape.cache.get(key)
    if encoders is None:
        encoders = shape.cache[key] = [_CopyColumn(c, binary, connection.dialect) for c in shape.all_columns]
    return encoders  # type: ignore[no-any-return]


def _encoded(
    encoders: list[_CopyColumn], shape: InsertShape, columns: list[Sequence[Any]]
) -> tuple[list[Sequence[Any]], bool] | None:
    """``columns`` ready for ``COPY`` and whether asyncpg's own codecs send them exactly;
    ``None`` when a value cannot go as an INSERT would send it."""
    encoded = []
    native = True  # (binary) asyncpg's own codecs send every value as db-plugins' do
    for encoder, values in zip(encoders, shape.processed(columns)):
        ready = encoder.encode(values)
        if ready is None:
            return None
        native = native and encoder.exact_natively(ready)
        encoded.append(ready)
    return encoded, native


class _Null:
    """Written by :mod:`csv` as an unquoted empty field: NULL in PostgreSQL's CSV ``COPY``.

    Every string is quoted (``QUOTE_NONNUMERIC``), so ``""`` stays the empty
    string; a "number" is written unquoted by ``str()``, which is empty here.
    """

    __slots__ = ()

    def __float__(self) -> float:  # makes csv treat it as a number: never quoted
        return 0.0

    def __str__(self) -> str:
        return ""

    def __repr__(self) -> str:
        return "NULL"


NULL = _Null()


def _bytea(value: Any) -> Any:
    return value if value is None else "\\x" + bytes(value).hex()


_TZINFO = operator.attrgetter("tzinfo")

# Whole-column checks (``values`` and the set of their types): loops in C on the common path.


def _naive(values: Sequence[Any], types: set[type]) -> bool:
    if str in types:
        values = [v for v in values if type(v) is not str]
    return not any(map(_TZINFO, filter(None, values)))  # (None is falsy; no datetime or time is)


def _finite(values: Sequence[Any], types: set[type]) -> bool:
    if decimal.Decimal not in types:
        return True  # a float's NaN or infinity COPYs as an INSERT sends it
    return all(v.is_finite() for v in values if type(v) is decimal.Decimal)


class _CopyColumn:
    """How one column's processed values go to ``COPY``, when they can exactly.

    CSV (psycopg2): a string goes to the column type's input function, as
    psycopg2's quoted literal does; other types only to the families where their
    text form means the same as psycopg2's literal. Binary (asyncpg): the values
    go to the codec of the column's type, as an INSERT's parameters do; a string
    only to a column of a type the INSERT would have sent it as (text, JSON,
    UUID, ...), not where the INSERT's cast would have parsed it.
    """

    __slots__ = ("accept", "allowed", "binary", "infinities", "native", "transform")

    def __init__(self, column: sa.Column, binary: bool = False, dialect: Any = None) -> None:
        base = column.type
        while isinstance(base, sa.types.TypeDecorator):
            base = base.impl_instance
        allowed: set[type] = {str, _NONE}
        self.binary = binary
        self.transform: Callable[[Any], Any] | None = None
        self.accept: Callable[[Sequence[Any], set[type]], bool] | None = None
        if binary and isinstance(base, _PARSED_FROM_TEXT):
            allowed.discard(str)
        # asyncpg's own codec for the column's type sends its values as db-plugins' codecs do
        # (see exact_natively), but for these, which it sends as 'infinity' / '-infinity'.
        self.native = binary and isinstance(base, _NATIVE_CODECS)
        self.infinities: tuple[Any, ...] = ()
        if isinstance(base, sa.Boolean):
            allowed.add(bool)
        elif isinstance(base, sa.Integer):
            allowed.add(int)  # a float would round in an INSERT but fail in COPY
        elif isinstance(base, (sa.Numeric, sa.Float)):  # unrelated classes since SQLAlchemy 2.1
            allowed.update((int, float, decimal.Decimal))
            self.accept = _finite
        elif isinstance(base, sa.DateTime):
            allowed.add(dt.datetime)
            rule = None if dialect is None else datetime_rule(column.type, dialect)
            if rule is not None:
                # db-plugins' bind processor has made every value naive UTC, or aware in UTC
                # (timestamptz): compared with the edges of the same kind, a pass in C each.
                self.infinities = _AWARE_INFINITIES if rule.aware else _NAIVE_INFINITIES
            else:
                self.infinities = _NAIVE_INFINITIES + _AWARE_INFINITIES
                if not base.timezone:
                    # COPY ignores an offset given to a timestamp column: this guards a
                    # column type whose bind processor did not convert the values.
                    self.accept = _naive
        elif isinstance(base, sa.Date):
            allowed.add(dt.date)
            self.infinities = (dt.date.max, dt.date.min)
        elif isinstance(base, sa.Time):
            allowed.add(dt.time)
            self.accept = _naive
        elif isinstance(base, sa.LargeBinary):
            allowed.update((bytes, bytearray, memoryview))
            self.transform = None if binary else _bytea
        elif isinstance(base, sa.Uuid):
            allowed.add(uuid.UUID)
        self.allowed = frozenset(allowed)

    def encode(self, values: Sequence[Any]) -> Sequence[Any] | None:
        """``values`` ready for :mod:`csv` (or the binary codecs), or ``None`` when one of them
        is not safe to COPY."""
        types = set(map(type, values))
        if not types <= self.allowed:
            return None
        if self.accept is not None and (types - {str, _NONE}) and not self.accept(values, types):
            return None
        if self.transform is not None:
            values = list(map(self.transform, values))
        if _NONE in types and not self.binary:
            values = [NULL if v is None else v for v in values]
        return values

    def exact_natively(self, values: Sequence[Any]) -> bool:
        """Whether asyncpg's own codec sends these (encoded) values as db-plugins' codecs do: one
        ``in`` test in C per value its codec would send as an infinity (a year 1 or year 9999 value)."""
        return self.native and not any(edge in values for edge in self.infinities)


#: Column types no asyncpg codec of db-plugins' or SQLAlchemy's replaces but the datetime ones
#: (db_plugins.db.sql.datetimes.register_asyncpg_datetimes): JSON's, INET's are SQLAlchemy's own.
_NATIVE_CODECS = (
    sa.Boolean,
    sa.Integer,
    sa.Numeric,
    sa.Float,
    sa.String,
    sa.DateTime,
    sa.Date,
    sa.Time,
    sa.LargeBinary,
    sa.Uuid,
)
#: The datetimes asyncpg's codecs send as 'infinity' and '-infinity', naive and aware.
_NAIVE_INFINITIES = (dt.datetime.max, dt.datetime.min)
_AWARE_INFINITIES = (dt.datetime.max.replace(tzinfo=dt.UTC), dt.datetime.min.replace(tzinfo=dt.UTC))

#: Column types whose INSERT parameter is cast from a string by the server (binary COPY
#: would hand the string to the type's binary codec instead).
_PARSED_FROM_TEXT = (sa.Boolean, sa.Integer, sa.Numeric, sa.Float, sa.DateTime, sa.Date, sa.Time, sa.LargeBinary)


class _CsvStream:
    """What ``COPY ... FROM STDIN`` reads: CSV written a slice of rows per ``read``.

    The server parses one slice while this process writes the next (two cores
    busy, not one after the other): faster than writing all the CSV first.
    """

    def __init__(self, rows: Iterator[tuple[Any, ...]], rows_per_read: int = 2000) -> None:
        self._rows = rows
        self._per_read = rows_per_read
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")

    def read(self, size: int = -1) -> str:
        chunk = list(itertools.islice(self._rows, self._per_read))
        if not chunk:
            return ""
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerows(chunk)
        return self._buffer.getvalue()


def _copy_csv(
    connection: sa.Connection, table: str, schema: str | None, names: list[str], rows: Iterator[tuple[Any, ...]]
) -> None:
    """psycopg2: ``copy_expert`` of CSV on the transaction's own driver connection, errors as SQLAlchemy's."""
    preparer = connection.dialect.identifier_preparer
    target = preparer.quote(table) if schema is None else f"{preparer.quote_schema(schema)}.{preparer.quote(table)}"
    sql = f"COPY {target} ({', '.join(map(preparer.quote, names))}) FROM STDIN WITH (FORMAT csv)"
    dbapi = connection.dialect.loaded_dbapi
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.copy_expert(sql, _CsvStream(rows), size=COPY_CHUNK)
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, None, exc, dbapi.Error, dialect=connection.dialect) from exc
    finally:
        cursor.close()


def _copy_binary(
    connection: sa.Connection,
    table: str,
    schema: str | None,
    names: list[str],
    rows: Iterator[tuple[Any, ...]],
    native: bool = False,
) -> None:
    """asyncpg: ``copy_records_to_table`` (binary ``COPY``) in the transaction SQLAlchemy's
    adapter holds on the connection, errors as SQLAlchemy's; with ``native`` (no value its
    own codecs would send otherwise than db-plugins'), by asyncpg's own codecs in C."""
    adapter = connection.connection.dbapi_connection
    driver = connection.connection.driver_connection
    dbapi = connection.dialect.loaded_dbapi
    try:
        try:
            # The adapter begins its transaction at its first statement: a COPY sent first would
            # commit on its own, and a failing later batch would leave this one written.
            if adapter._transaction is None and not adapter.autocommit:
                wait(adapter._start_transaction())
            if native and _natively_copying(type(driver)):
                wait(_copy_records_natively(driver, table, schema, names, rows))
            else:
                wait(driver.copy_records_to_table(table, records=rows, columns=names, schema_name=schema))
        except dbapi.Error:
            raise
        except Exception as exc:
            adapter._handle_exception(exc)  # raises it as the adapter's DBAPI error (pgcode, message)
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(
            f"COPY {table} FROM STDIN (binary)", None, exc, dbapi.Error, dialect=connection.dialect
        ) from exc


def _asyncpg_read(adapter: Any, compiled: Any, params: Sequence[Any]) -> Awaitable[list[Any]]:
    """asyncpg's ``fetch``: the statement prepared once per connection in asyncpg's own cache
    (the adapter keeps a cache of its own, and parses each statement's status). The SQL is the
    asyncpg dialect's (``$n`` parameters, typed by casts); the reads run in autocommit mode, so
    no transaction is begun first, as the adapter would not either.

    Where asyncpg's own codecs (in C) read and send the statement's values as the connection's
    do, they are used: the Python codecs of :func:`~..datetimes.register_asyncpg_datetimes`
    cost more than the rest of a page's decoding. They differ only where asyncpg's send the
    first and last datetimes and dates as '-infinity' and 'infinity' (a parameter at one of
    those edges keeps the connection's codecs), read a stored 'infinity' ``timestamptz`` as a
    naive datetime, and where SQLAlchemy set codecs of its own (JSON, INET: see
    :func:`_natively_readable`)."""
    driver = adapter.driver_connection
    native = compiled.native
    if native is None:
        native = compiled.native = _natively_readable(compiled) and _natively_reading(type(driver))
    if native and _no_edge(params):
        driver._check_open()
        return driver._execute(compiled.sql, params, 0, None, ignore_custom_codec=True)  # type: ignore[no-any-return]
    return driver.fetch(compiled.sql, *params)  # type: ignore[no-any-return]


#: The values asyncpg's own codecs send as '-infinity' / 'infinity' (the aware ones too, to be safe).
_EDGES = frozenset((dt.date.min, dt.date.max, *_NAIVE_INFINITIES, *_AWARE_INFINITIES))


def _no_edge(params: Sequence[Any]) -> bool:
    try:
        return _EDGES.isdisjoint(params)
    except TypeError:  # an unhashable value: no type read natively takes one
        return False


def _natively_readable(compiled: Any) -> bool:
    """Whether asyncpg's own codecs handle ``compiled``'s parameters and columns as the
    connection's: only types no codec of ours or SQLAlchemy's replaces but the datetime
    ones, and no ``timestamptz`` column (asyncpg reads 'infinity' there as a naive datetime)."""
    binds = [bind.type for bind in compiled.compiled.binds.values()]
    return all(_native_type(t, False) for t in binds) and all(_native_type(t, True) for t in compiled.types)


def _native_type(type_: Any, column: bool) -> bool:
    while isinstance(type_, sa.types.TypeDecorator):
        type_ = type_.impl_instance
    if isinstance(type_, sa.DateTime) and column and type_.timezone:
        return False
    return isinstance(type_, _NATIVE_CODECS)


@functools.cache
def _natively_reading(driver: type) -> bool:
    """Whether :func:`_asyncpg_read` may call asyncpg's private ``_execute`` with
    ``ignore_custom_codec`` (as asyncpg 0.29 to 0.32 have it)."""
    execute = getattr(driver, "_execute", None)
    return (
        execute is not None
        and hasattr(driver, "_check_open")
        and "ignore_custom_codec" in inspect.signature(execute).parameters
    )


@functools.cache
def _natively_copying(driver: type) -> bool:
    """Whether :func:`_copy_records_natively` runs on this asyncpg: the private methods it calls
    (as asyncpg 0.29 to 0.32 have them) are there."""
    get_statement = getattr(driver, "_get_statement", None)
    return get_statement is not None and "ignore_custom_codec" in inspect.signature(get_statement).parameters


async def _copy_records_natively(
    driver: Any, table: str, schema: str | None, names: list[str], records: Iterator[tuple[Any, ...]]
) -> Any:
    """What asyncpg's ``copy_records_to_table`` does, with the records encoded by asyncpg's own
    codecs (in C) rather than the Python ones :func:`~..datetimes.register_asyncpg_datetimes`
    sets on the connection: the statement giving the columns' types is prepared with
    ``ignore_custom_codec``, as asyncpg prepares its own introspection queries."""
    from asyncpg.utils import _quote_ident

    target = _quote_ident(table) if schema is None else f"{_quote_ident(schema)}.{_quote_ident(table)}"
    columns = ", ".join(map(_quote_ident, names))
    driver._check_open()
    intro = await driver._get_statement(
        f"SELECT {columns} FROM {target} LIMIT 1",
        None,
        named=driver._stmt_cache_enabled,
        use_cache=True,
        ignore_custom_codec=True,
    )
    copy = f"COPY {target} ({columns}) FROM STDIN (FORMAT binary)"
    return await driver._protocol.copy_in(copy, None, None, records, intro, None)


#: Per driver, how ``fast_insert`` sends rows by ``COPY``.
_COPIERS: dict[str, Callable[..., None]] = {"psycopg2": _copy_csv, "asyncpg": _copy_binary}
