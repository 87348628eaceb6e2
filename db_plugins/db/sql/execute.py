"""Compile, then execute: how a SQL read reaches the driver.

A query builds a SQLAlchemy Core statement; :class:`Executor` compiles it once
per shape (SQLAlchemy's cache key, without the values) into a
:class:`Compiled` -- the SQL text, the order of its parameters and the
processors of its binds and columns -- and runs it on a pooled DBAPI
connection with the driver's own cursor. Running the text directly skips
SQLAlchemy's per-call execution context and result objects, which cost more
than the driver itself on a one-row read.

Every read of the query interface goes through one :class:`Executor`: outside
``db.transaction()`` on a connection of the :class:`ReadPool` (in autocommit
mode where the dialect's ``autocommit_pool`` flag says so), inside one on the
block's session, so a read sees the block's writes. With ``REPLICAS``
configured, :class:`~.replicas.Replicas` chooses the engine a read outside a
transaction runs on (a replica, or the primary when none is up or the thread
is in ``db.primary()``) and the same compiled statement runs on that engine's
pool. On the asyncio API the same executor runs them, through a read pool
(:class:`~.aio.DriverReadPool`) whose :meth:`ReadPool.read` sends them to the
async driver's own connection.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.util.concurrency import is_exit_exception

from .rows import InstanceLoader

__all__ = ["Compiled", "Executor", "Read", "ReadPool"]

# Compiled shapes kept per executor; a caller varying filters without end stays bounded.
CACHE_SIZE = 500


class Read:
    """One read, compiled by the query: a Core statement and how its rows become results.

    ``core`` selects the loader's columns (``None`` when the model needs the
    ORM to load it); ``orm`` selects the mapped class, for reads inside a
    transaction and for models the loader cannot build.
    """

    __slots__ = ("build", "core", "orm")

    def __init__(self, core: Any, orm: Callable[[], Any], build: InstanceLoader | None) -> None:
        self.core = core
        self.orm = orm
        self.build = build


class Compiled:
    """A statement compiled for one dialect: what the driver's ``cursor.execute`` takes."""

    __slots__ = ("binds", "columns", "compiled", "defaults", "escaped", "native", "order", "sql", "types")

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled
        self.sql: str = compiled.string
        self.order: tuple[str, ...] | None = tuple(compiled.positiontup) if compiled.positional else None
        self.escaped: dict[str, str] = dict(compiled.escaped_bind_names or {})
        self.binds = [(name, process) for name, process in compiled._bind_processors.items() if process]
        self.defaults: dict[str, Any] = compiled.construct_params(_check=False, escape_names=False)
        self.types = [column[3] for column in compiled._result_columns]
        # Result processors, known at the first execution (some depend on the cursor's column types).
        self.columns: list[tuple[int, Callable[[Any], Any]]] | None = None
        #: Whether an async driver's own codecs read this statement exactly as the connection's
        #: do (decided once by the dialect's driver read; ``None``: not yet).
        self.native: bool | None = None

    @classmethod
    def of(cls, statement: Any, dialect: sa.engine.Dialect, key: Any = None) -> Compiled | None:
        """``statement`` compiled, or ``None`` when only SQLAlchemy can run it (values
        rendered per call: expanding ``IN`` lists, literal-execute parameters).

        ``key`` is the statement's cache key: later statements of the same shape
        bind their own values through it (:meth:`values_of`).
        """
        compiled = statement.compile(dialect=dialect, cache_key=key)
        if compiled.post_compile_params or compiled.literal_execute_params:
            return None
        return cls(compiled)

    def values_of(self, extracted: Any) -> dict[str, Any]:
        """Every bind's value for a statement of this shape whose cache key holds ``extracted``."""
        return self.compiled.construct_params(extracted_parameters=extracted, escape_names=False)

    def parameters(self, values: dict[str, Any]) -> Any:
        """The driver's parameters from ``values`` (every bind by name): processed, in order."""
        params = values
        for name, process in self.binds:
            params[name] = process(params[name])
        if self.order is not None:
            return tuple([params[name] for name in self.order])
        if self.escaped:
            return {self.escaped.get(name, name): value for name, value in params.items()}
        return params

    def processors(self, dialect: sa.engine.Dialect, description: Sequence[Any]) -> list[tuple[int, Any]]:
        found = []
        for i, (type_, column) in enumerate(zip(self.types, description)):
            process = type_._cached_result_processor(dialect, column[1])
            if process is not None:
                found.append((i, process))
        self.columns = found
        return found


class Executor:
    """Runs the compiled reads of one ``SQLConnection``."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self._cache: dict[Any, Compiled | None] = {}

    # -- compiling --------------------------------------------------------------------

    def compile(self, statement: Any, dialect: sa.engine.Dialect) -> tuple[Compiled | None, Any]:
        """``statement``'s compiled form and its parameter values for this call."""
        key = statement._generate_cache_key()
        if key is None:  # an element SQLAlchemy cannot cache: compiled per call
            return Compiled.of(statement, dialect), None
        compiled = self._cache.get(key.key, False)
        if compiled is False:
            compiled = Compiled.of(statement, dialect, key)
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[key.key] = compiled
        return compiled, key.bindparams

    def prepare(self, statement: Any) -> Compiled | None:
        """``statement`` compiled once, for a caller that binds its own parameters (by name)."""
        return Compiled.of(statement, self.connection.read_engine.dialect)

    # -- running -------------------------------------------------------------------------

    def rows(self, statement: Any) -> list[Any]:
        """Every row of a Core ``statement`` (tuples, processed), outside a transaction."""
        connection = self.connection
        compiled, extracted = self.compile(statement, connection.read_engine.dialect)
        if compiled is None:

            def run(engine: sa.engine.Engine) -> list[Any]:
                with connection.guard(), engine.connect().execution_options(dbp_read=True) as conn:
                    return [tuple(row) for row in conn.execute(statement)]

            return run(connection.read_engine) if connection.replicas is None else connection.replicas.route(run)
        return self.run(compiled, compiled.values_of(extracted))

    def run(self, compiled: Compiled, values: dict[str, Any], primary: bool = False) -> list[Any]:
        """The rows of ``compiled`` with ``values`` (every bind by name), on a pooled connection
        (of a replica, when there are replicas, unless ``primary``: a statement that writes,
        which the autocommit pool commits on its own)."""
        connection = self.connection
        try:
            params = compiled.parameters(values)
        except Exception as exc:  # a bind processor refused a value: nothing was sent
            wrapped = sa.exc.StatementError(str(exc), compiled.sql, values, exc)
            raise connection.translated(wrapped) from exc
        replicas = connection.replicas
        if replicas is None or primary:
            return self._run_on(connection.read_pool, compiled, params)
        return replicas.route(lambda engine: self._run_on(connection.pool_for(engine), compiled, params))

    def _run_on(self, pool: ReadPool, compiled: Compiled, params: Any) -> list[Any]:
        connection = self.connection
        dialect = pool.dialect
        try:
            raw = pool.get()
        except sa.exc.SQLAlchemyError as exc:
            raise connection.translated(exc) from exc
        try:
            rows = pool.read(raw, compiled, params)
        except dialect.loaded_dbapi.Error as exc:
            wrapped = _wrapped(exc, raw, compiled.sql, params, dialect)
            raise connection.translated(wrapped) from wrapped
        except BaseException as exc:
            if is_exit_exception(exc):
                # Interrupted mid-call (a cancelled task, Ctrl-C): the driver may still be waiting
                # for this reply, so the connection is not reused (SQLAlchemy's own rule for
                # its connections; aiomysql's would answer the next read "Cancelled during execution").
                raw.invalidate(exc)
            raise
        finally:
            pool.put(raw)
        processors = compiled.columns
        if processors:
            rows = [_processed(row, processors) for row in rows]
        return rows

    def fetch(self, read: Read) -> list[Any]:
        """The results of ``read``: detached instances (or the block's, in a transaction)."""
        connection = self.connection
        if connection.in_transaction:
            return list(connection._stack[-1].scalars(read.orm()))
        if read.build is None:
            if connection.replicas is None:
                return connection.run(lambda session: list(session.scalars(read.orm())), write=False)
            return connection.replicas.route(lambda engine: _instances(connection, engine, read.orm()))
        return read.build.many(self.rows(read.core))

    def scalar(self, statement: Any) -> Any:
        """The one value ``statement`` selects."""
        connection = self.connection
        if connection.in_transaction:
            with connection.guard():
                return connection._stack[-1].execute(statement).scalar_one()
        return self.rows(statement)[0][0]

    def stream(self, read: Read, batch_size: int) -> Iterator[Any]:
        """Every result of ``read`` from one server-side cursor, ``batch_size`` rows at a time."""
        connection = self.connection
        if connection.in_transaction:
            # Inside db.transaction() the stream sees the block's own writes.
            return iter(connection._stack[-1].scalars(read.orm().execution_options(yield_per=batch_size)))
        if read.build is not None:
            return _stream_rows(connection, read.core, batch_size, read.build)
        return _stream_instances(connection, read.orm().execution_options(yield_per=batch_size))


def _instances(connection: Any, engine: sa.engine.Engine, statement: Any) -> list[Any]:
    """The instances ``statement`` selects, read through the ORM on ``engine`` (a replica)."""
    with connection.guard(), orm.Session(bind=engine, expire_on_commit=False) as session:
        return list(session.scalars(statement))


def _stream_engine(connection: Any) -> sa.engine.Engine:
    """The engine a stream reads from: a replica that answers now, or the primary.

    A stream hands rows out as it goes, so it cannot move to another server
    midway: the server is chosen (and tried) before the first row.
    """
    if connection.replicas is None:
        return connection.engine

    def probe(engine: sa.engine.Engine) -> sa.engine.Engine:
        with connection.guard(), engine.connect():
            return engine

    # A server-side cursor needs a transaction: the chosen server's engine that opens one.
    return connection.transactional(connection.replicas.route(probe))


class ReadPool:
    """The connections reads run on: idle ones kept checked out of the read engine's pool.

    SQLAlchemy's checkout and checkin (queue, events, reset) cost more than
    sqlite3's whole query, and a fair part of a one-row read on a server. The
    read engine's connections are in autocommit mode with no reset on return,
    so an idle one can be handed to the next read as it is. Up to the pool's
    size stay idle here; a connection idle longer than the dialect's
    ``idle_ping_seconds`` is pinged first (dead: replaced), as the pool does.
    Without ``keep`` (reads sharing the writers' pool) every read checks out
    and in.
    """

    def __init__(self, engine: sa.engine.Engine, features: Any, keep: bool) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        pool = engine.pool
        self._keep = pool.size() if keep and isinstance(pool, sa.pool.QueuePool) else 0
        self._ping_after = features.idle_ping_seconds
        if getattr(pool, "_pre_ping", False):
            self._ping_after = 0.0
        self._idle: deque[tuple[Any, float]] = deque()
        self._pid = os.getpid()
        self._closed = False

    def get(self) -> Any:
        """A pooled connection (SQLAlchemy's ``PoolProxiedConnection``)."""
        if self._pid != os.getpid():  # forked: the parent's connections are not ours to use
            self._idle, self._pid = deque(), os.getpid()
        idle = self._idle
        while idle:
            try:
                raw, since = idle.pop()
            except IndexError:  # another thread took the last one
                break
            if self._ping_after is None or time.monotonic() - since <= self._ping_after or self._alive(raw):
                return raw
        return self.engine.raw_connection()

    def put(self, raw: Any) -> None:
        """Give back a connection :meth:`get` returned."""
        if self._closed or not raw.is_valid or len(self._idle) >= self._keep:
            raw.close()
        else:
            self._idle.append((raw, time.monotonic()))

    def read(self, raw: Any, compiled: Compiled, params: Any) -> Sequence[Any]:
        """The rows of ``compiled`` run with ``params`` on ``raw`` (raw: not processed), through
        the DBAPI connection's cursor; the first run of a statement finds its result processors."""
        cursor = raw.dbapi_connection.cursor()
        cursor.execute(compiled.sql, params)
        rows = cursor.fetchall()
        if compiled.columns is None:
            compiled.processors(self.dialect, cursor.description)
        cursor.close()
        return rows

    def close(self) -> None:
        """Hand every idle connection back to the engine's pool."""
        self._closed = True
        while self._idle:
            self._idle.pop()[0].close()

    def _alive(self, raw: Any) -> bool:
        dialect = self.dialect
        try:
            dialect.do_ping(raw.dbapi_connection)
            return True
        except dialect.loaded_dbapi.Error as exc:
            if not dialect.is_disconnect(exc, raw.dbapi_connection, None):
                raise
            raw.invalidate(exc)
            raw.close()
            return False


def _wrapped(exc: BaseException, raw: Any, sql: str, params: Any, dialect: sa.engine.Dialect) -> sa.exc.DBAPIError:
    """A driver error as SQLAlchemy raises it (the connection given up when it is lost)."""
    disconnect = dialect.is_disconnect(exc, raw.dbapi_connection, None)
    if disconnect:
        raw.invalidate(exc)
    wrapped = sa.exc.DBAPIError.instance(
        sql, params, exc, dialect.loaded_dbapi.Error, connection_invalidated=disconnect, dialect=dialect
    )
    wrapped.__cause__ = exc
    return wrapped


def _processed(row: Sequence[Any], processors: list[tuple[int, Any]]) -> list[Any]:
    values = list(row)
    for i, process in processors:
        values[i] = process(values[i])
    return values


def _stream_rows(connection: Any, statement: Any, batch_size: int, build: Callable[[Any], Any]) -> Iterator[Any]:
    # A server-side cursor in a transaction of its own (PostgreSQL's cursors need one).
    options = {"dbp_read": True, "yield_per": batch_size}
    engine = _stream_engine(connection)
    with connection.guard(), engine.connect().execution_options(**options) as conn:
        result = conn.execute(statement)
        try:
            for row in result:
                yield build(row)
        finally:
            # A stream left early: its cursor is closed before its connection is reset, so an
            # unbuffered driver (aiomysql) reads the rest of the result first, as it should.
            result.close()


def _stream_instances(connection: Any, statement: Any) -> Iterator[Any]:
    engine = _stream_engine(connection)
    sessions = connection._sessions if engine is connection.engine else orm.sessionmaker(bind=engine)
    with connection.guard(), sessions() as session:
        for instance in session.scalars(statement):
            yield instance
            # Rows already handed out need not stay in the identity map.
            session.expunge(instance)
