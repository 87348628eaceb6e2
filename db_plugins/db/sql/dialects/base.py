"""The generic SQL dialect: conservative flags and portable paths, for any SQLAlchemy dialect.

A dialect is two objects, as in Django's ``db/backends/base``:

* :class:`SQLFeatures` -- data: what the engine can do and where it differs
  from the contract, decided when the connection is made (and refined once
  from the live server by :meth:`SQLOperations.detect`);
* :class:`SQLOperations` -- behaviour: engine options and hooks, the
  statements that differ (insert, upsert, collation), locks, error
  classification, datetime types, and the dialect's fast ``bulk_insert`` path.

The dialects of db_plugins.db.sql.dialects.sqlite, .postgresql and .mysql
subclass both; any other dialect runs on these (see :func:`db_plugins.db.sql.dialects.dialect_for`).
Modules here never import the query, the connection or the bulk writers: those
hand them what they work on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.sql.expression import ColumnElement

from ....values import DATETIME_RANGE, INT64_MAX, INT64_MIN
from ...base.features import BaseFeatures
from ..datetimes import DbpDateTime

__all__ = [
    "SQLFeatures",
    "SQLOperations",
    "OnConflictOperations",
    "InsertShape",
    "DriverRead",
    "DUPLICATE",
    "INTEGRITY",
    "CONNECTION",
    "RETRY",
    "UNSUPPORTED",
    "INVALID",
]

# What :meth:`SQLOperations.classify` says a driver error is.
DUPLICATE, INTEGRITY, CONNECTION, RETRY = "duplicate", "integrity", "connection", "retry"
#: A statement beyond the engine's limits (too many parameters, an expression too deep).
UNSUPPORTED = "unsupported"
#: A value the driver or the server cannot take: the caller's data, not the server, is at fault.
INVALID = "invalid"


class SQLFeatures(BaseFeatures):
    """Capabilities of a SQLAlchemy dialect; the defaults are the portable choices."""

    #: The asyncio driver ``connect_async`` uses for this backend's sync URLs (``None``: name one in the URL).
    async_driver: str | None = None

    #: ``db.transaction()`` is available (the same flag exists on every plugin).
    transactions: bool = True
    #: A failing ``bulk_insert`` writes nothing (the same flag exists on every plugin).
    atomic_bulk: bool = True
    #: The upsert statement ``bulk_insert(on_conflict=...)`` uses: ``"on_conflict"``
    #: (``INSERT ... ON CONFLICT (conflict key)``), ``"on_duplicate_key"`` (MySQL's), or
    #: ``None`` (none: the existing keys are read first, then rows inserted / updated).
    upsert: str | None = None
    #: The upsert statement fires on any unique key, not only the conflict key (MySQL's
    #: ``ON DUPLICATE KEY`` / ``INSERT IGNORE``): where another unique key could collide,
    #: the existing conflict keys are read first, as without an upsert statement.
    upsert_any_unique_key: bool = False
    #: ``INSERT ... RETURNING`` works (set from the SQLAlchemy dialect; on MariaDB, 10.5 and
    #: later, from the server's version at connect).
    returning: bool = False
    #: ``UPDATE ... RETURNING`` works (set from the SQLAlchemy dialect).
    update_returning: bool = False
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
    #: Reads outside ``db.transaction()`` run on a pool of their own whose connections
    #: stay in autocommit mode: no ``BEGIN`` before a read, no ``ROLLBACK`` after it, and
    #: idle connections are reused without the pool's checkout (see
    #: :class:`~db_plugins.db.sql.execute.ReadPool`). Off, reads share the writers' pool.
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
    #: (MariaDB: the column's ``fsp``, 0 for a plain ``DateTime``), see
    #: :meth:`SQLOperations.datetime_digits` (PostgreSQL: fewer in a ``TIMESTAMP(p)``
    #: column). Finer digits are cut on writes and filter operands alike (db_plugins.values).
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
    #: Schema migrations rebuild a table to alter it (Alembic's ``render_as_batch``: SQLite's
    #: ``ALTER TABLE`` cannot change or drop most things).
    batch_migrations: bool = False
    #: An autoincrement integer key needs an explicit sequence (``CREATE SEQUENCE`` and a
    #: ``nextval`` default) where SQLAlchemy's DDL would use a ``SERIAL`` type the engine
    #: lacks (DuckDB): ``create_db`` gives such keys one.
    sequence_keys: bool = False
    #: Nested ``db.transaction()`` blocks run in ``SAVEPOINT``\ s (DuckDB has none).
    savepoints: bool = True
    #: One process at a time may open the database (DuckDB locks its file): other
    #: processes cannot share it, and the threads of this one are all its clients.
    one_process: bool = False

    def __init__(self, dialect: sa.engine.Dialect, url: sa.engine.URL | None = None) -> None:
        self.name = dialect.name
        self.returning = bool(getattr(dialect, "insert_returning", False))
        self.update_returning = bool(getattr(dialect, "update_returning", False))


#: ``read(adapter, compiled, params)``: the rows of one statement (an executor's ``Compiled`` for
#: the adapter's dialect: its ``sql``, and a ``native`` flag the read may set once), awaited from
#: the driver connection under SQLAlchemy's DBAPI ``adapter``. A driver's error is raised as it
#: is: the caller has the adapter translate it.
DriverRead = Callable[[Any, str, Any], Awaitable[Sequence[Any]]]


class InsertShape(Protocol):
    """What a dialect's fast ``bulk_insert`` path gets: rows that give one set of fields,
    in one ``on_conflict`` mode (db_plugins.db.sql.bulk builds them)."""

    #: ``"error"``, ``"ignore"`` or ``"update"``.
    mode: str
    #: The table written.
    table: sa.Table
    #: Every column sent, in table order: the given ones and those a Python-side default fills.
    all_columns: list[sa.Column]
    #: The given columns.
    columns: list[sa.Column]
    #: Per-shape values a dialect computes once (its statement text, its encoders).
    cache: dict[str, Any]

    def statement(self, keys: Sequence[str]) -> Any:
        """The SQLAlchemy INSERT (or upsert) for this mode; ``keys`` are the columns given."""

    def driver_sql(self) -> str | None:
        """The positional driver statement for :attr:`all_columns`, or ``None``."""

    def processed(self, columns: list[Sequence[Any]]) -> list[Sequence[Any]]:
        """Columns through their SQLAlchemy bind processors (what the driver would receive)."""


class SQLOperations:
    """What a SQL dialect does differently; the portable behaviour.

    One per connection, holding the SQLAlchemy ``dialect`` and the connection's
    ``features`` (which :meth:`detect` may refine once, at connect).
    """

    def __init__(self, dialect: sa.engine.Dialect, features: SQLFeatures) -> None:
        self.dialect = dialect
        self.features = features

    # -- URLs (before there is a connection) -------------------------------------

    def database_file(self, url: sa.engine.URL) -> str | None:
        """The file holding the database, or ``None`` (a server, memory)."""
        return None

    def anchored(self, url: sa.engine.URL, base: Any) -> sa.engine.URL:
        """``url`` with a relative database file taken relative to ``base`` (a directory)."""
        return url

    def in_memory(self, url: sa.engine.URL) -> bool:
        """Whether ``url``'s database lives in this process only (gone when it ends)."""
        return False

    def database_statements(self, name: str) -> tuple[str, str]:
        """``CREATE DATABASE`` and ``DROP DATABASE`` statements for a database called ``name``
        on the server (the pytest plugin's throw-away databases)."""
        quoted = self.dialect.identifier_preparer.quote_identifier(name)
        return f"CREATE DATABASE {quoted}", f"DROP DATABASE IF EXISTS {quoted}"

    def drop_database(self, admin: sa.engine.Engine, name: str) -> None:
        """Drop the database called ``name`` (if it exists) on ``admin``'s server (an
        AUTOCOMMIT engine)."""
        with admin.connect() as connection:
            connection.exec_driver_sql(self.database_statements(name)[1])

    def admin_urls(self, url: sa.engine.URL) -> list[sa.engine.URL]:
        """URLs on ``url``'s server to try, in order, for a connection that can create databases."""
        return [url.set(database=None)]

    # -- engine set-up ----------------------------------------------------------

    def engine_options(self, url: sa.engine.URL) -> dict[str, Any]:
        """Defaults for ``create_engine`` (the user's ``ENGINE_OPTIONS`` win)."""
        return {"connect_args": dict(self.features.connect_args)}

    def ping_idle_connections(self, engine: sa.engine.Engine) -> None:
        """Ping a pooled connection before use when it sat idle over ``features.idle_ping_seconds``.

        SQLAlchemy's ``pool_pre_ping`` pings at every checkout: a round trip per
        call that doubled ``find_one`` on a server. A connection in steady use
        skips it; one that waited (where a restart or an idle timeout can have
        cut it) is tested, and replaced when dead. A connection cut within the
        last second fails its call with ``ConnectionError`` and the pool is
        renewed for the next. ``ENGINE_OPTIONS={"pool_pre_ping": True}`` still
        pings every time.
        """
        limit = self.features.idle_ping_seconds
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
        """Install per-connection hooks (session set-up); called once per engine."""

    def detect(self, connection: sa.engine.Connection) -> None:
        """Refine :attr:`features` from the live server (collations, versions); once, at connect."""

    def schema(self, metadata: sa.MetaData) -> sa.MetaData:
        """The tables ``create_db``/``drop_db`` create and drop for the models' ``metadata``: itself,
        or (``features.sequence_keys``) a copy whose generated integer keys take their
        values from a sequence. The models' own tables are left as they are."""
        if not self.features.sequence_keys:
            return metadata
        copy = sa.MetaData()
        for table in metadata.sorted_tables:
            column = table.autoincrement_column
            new = table.to_metadata(copy)
            if column is None or column.default is not None or column.server_default is not None:
                continue
            sequence = sa.Sequence(f"{table.name}_{column.name}_seq", metadata=copy, schema=table.schema)
            key = new.c[column.key]
            key.autoincrement = False  # not a SERIAL: an integer whose default is the sequence
            key.server_default = sa.DefaultClause(sequence.next_value())
        return copy

    @contextlib.contextmanager
    def migrating(self, connection: sa.engine.Connection) -> Iterator[None]:
        """Session settings a schema migration needs on ``connection``, for the block."""
        yield

    # -- values -------------------------------------------------------------------

    def integer_range(self, type_: sa.types.TypeEngine) -> tuple[int, int]:
        """The smallest and largest integer a column of ``type_`` holds here (see ``features.integer_widths``)."""
        while isinstance(type_, sa.types.TypeDecorator):
            type_ = type_.impl_instance
        if not self.features.integer_widths:
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
        precision = self.features.datetime_precision
        return 6 if precision is None else precision

    # -- statements -------------------------------------------------------------

    def insert(self, table: sa.Table) -> Any:
        """The dialect's ``INSERT`` construct (with its upsert methods, where it has them)."""
        return sa.insert(table)

    def upsert_statement(self, table: sa.Table, mode: str, target: Sequence[str], others: Sequence[str]) -> Any:
        """The INSERT skipping (``mode="ignore"``) or updating (``"update"``: the columns
        ``others``) a row whose ``target`` fields are stored (needs ``features.upsert``)."""
        raise AssertionError(f"no {mode!r} statement without an upsert feature")

    def upsert_rows(self, connection: sa.Connection, shape: InsertShape, rows: list[dict[str, Any]]) -> int:
        """``shape``'s upsert through SQLAlchemy's executemany; the rows inserted (``"ignore"``) or written."""
        raise AssertionError(f"no {shape.mode!r} statement without an upsert feature")

    def insert_unless_stored(self, table: sa.Table, target: Sequence[str]) -> Any:
        """The INSERT ``get_or_create`` creates a row with, ``target`` (column names) being a unique
        key its filter gives: one whose RETURNING gives no row when that key is stored, or (here) a
        plain INSERT, which the database refuses then as a duplicate key; either way the caller
        reads the stored row."""
        return self.insert(table)

    def bulk_processor(
        self, impl: sa.types.TypeEngine, process: Callable[[Any], Any]
    ) -> Callable[[Sequence[Any]], Sequence[Any]] | None:
        """A faster equivalent of ``process`` (``impl``'s bind processor) over a whole column, or ``None``.

        Used by ``bulk_insert``'s fast paths; it must give exactly what ``process`` gives.
        """
        if isinstance(impl, DbpDateTime):
            return impl.column_processor(self.dialect)
        return None

    def fast_insert(
        self, connection: sa.Connection, shape: InsertShape, columns: list[Sequence[Any]], n: int
    ) -> int | None:
        """Insert ``n`` rows of ``shape`` (``columns``: the values of ``shape.all_columns``) by the
        dialect's fastest path and return the rows written, or ``None`` to leave them to
        SQLAlchemy's executemany (the portable path, taken here)."""
        return None

    def stream_insert(self, connection: sa.Connection, shape: InsertShape, batches: Any) -> int | None:
        """Insert the batches of one ``shape`` (``"error"`` mode) as one stream and return the
        rows written, or ``None`` to leave every batch to :meth:`fast_insert`.

        ``batches`` yields ``(columns, n)`` as :meth:`fast_insert` takes them, each checked as
        it is asked for (a refused value raises from it: the stream must then leave nothing
        written); a batch the stream cannot send exactly goes back by ``batches.give_back()``
        (before anything of it is sent), and the stream ends there.
        """
        return None

    def binary_string(self, expr: ColumnElement) -> ColumnElement:
        """``expr`` compared and sorted in code-point order."""
        collation = self.features.sort_collation
        return sa.collate(expr, collation) if collation else expr

    def string_equals(self, column: ColumnElement, value: Any) -> ColumnElement:
        """Exact (case-sensitive, pad-sensitive) equality that can still use an index."""
        if self.features.exact_string_equality:
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

    # -- the asyncio API --------------------------------------------------------

    def driver_read(self, driver: str) -> DriverRead | None:
        """How the asyncio ``driver`` runs one compiled read on its own connection, skipping
        SQLAlchemy's DBAPI adapter (its cursor, mutex and row buffer cost more than the
        driver's call on a one-row read); ``None``: through the adapter's cursor."""
        return None

    # -- errors -----------------------------------------------------------------

    def classify(self, orig: BaseException) -> str | None:
        """``"duplicate"``, ``"integrity"``, ``"connection"``, ``"retry"``, ``"unsupported"``,
        ``"invalid"`` or ``None`` for a driver error."""
        return None


@contextlib.contextmanager
def released_after(connection: sa.engine.Connection, release: str, params: dict[str, Any]) -> Iterator[None]:
    """The block, then the server-side lock released by the statement ``release`` (what the
    block left uncommitted is rolled back first: the lock outlives transactions, not them it)."""
    try:
        yield
    finally:
        if connection.in_transaction():
            connection.rollback()
        connection.execute(sa.text(release), params)
        connection.commit()


class OnConflictOperations(SQLOperations):
    """Upserts spelled ``INSERT ... ON CONFLICT (target) DO NOTHING / DO UPDATE`` (SQLite, PostgreSQL)."""

    def upsert_statement(self, table: sa.Table, mode: str, target: Sequence[str], others: Sequence[str]) -> Any:
        stmt = self.insert(table)
        if mode == "ignore" or not others:
            return stmt.on_conflict_do_nothing(index_elements=list(target))
        return stmt.on_conflict_do_update(index_elements=list(target), set_={c: stmt.excluded[c] for c in others})

    def insert_unless_stored(self, table: sa.Table, target: Sequence[str]) -> Any:
        # No error for the stored key (nor in the server's log): RETURNING gives no row.
        return self.upsert_statement(table, "ignore", target, [])

    def upsert_rows(self, connection: sa.Connection, shape: InsertShape, rows: list[dict[str, Any]]) -> int:
        stmt = shape.statement(list(rows[0]) if rows else [])
        if shape.mode == "ignore":
            pk = list(shape.table.primary_key.columns)
            if self.features.returning and pk:
                return len(connection.execute(stmt.returning(*pk), rows).all())
            return connection.execute(stmt, rows).rowcount
        connection.execute(stmt, rows)
        return len(rows)
