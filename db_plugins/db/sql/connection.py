"""``SQLConnection``: the engine, sessions, transactions, error translation, create/drop."""

from __future__ import annotations

import contextlib
import types
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.util.concurrency import is_exit_exception

from ...config import scrub
from ...errors import (
    ConfigError,
    ConnectionError,
    DatabaseError,
    DBPluginsError,
    DuplicateKeyError,
    IntegrityError,
    UnsupportedOperation,
    ValidationError,
)
from ..base.bridge import pause
from ..generic import DatabaseConnection, DatabaseCreator
from . import datetimes
from .config import SQLConfig
from .dialects import dialect_for
from .dialects.base import CONNECTION, DUPLICATE, INTEGRITY, INVALID, RETRY, UNSUPPORTED, SQLOperations
from .execute import Executor, ReadPool
from .replicas import Replica, Replicas

__all__ = ["SQLConnection", "SQLDatabaseCreator", "translate_error"]

T = TypeVar("T")

RETRY_ATTEMPTS = 8
_SHARED_POOLS = (sa.pool.StaticPool, sa.pool.SingletonThreadPool)


def translate_error(exc: BaseException, ops: SQLOperations, masked_url: str) -> BaseException:
    """Map a SQLAlchemy/driver error to a db_plugins error (anything else is returned unchanged)."""
    if isinstance(exc, DBPluginsError) or not isinstance(exc, sa.exc.SQLAlchemyError):
        return exc
    orig = getattr(exc, "orig", None)
    kind = ops.classify(orig) if orig is not None else None
    if getattr(exc, "connection_invalidated", False) or isinstance(exc, sa.exc.DisconnectionError):
        kind = CONNECTION
    detail = scrub(
        str(orig if orig is not None else exc).strip().splitlines()[0]
        if str(orig or exc).strip()
        else type(exc).__name__
    )
    if kind == DUPLICATE:
        return DuplicateKeyError(f"duplicate key: {detail}")
    if kind == INTEGRITY or isinstance(exc, sa.exc.IntegrityError):
        return IntegrityError(f"integrity error: {detail}")
    if kind == CONNECTION:
        return ConnectionError(f"cannot use database {masked_url}: {detail}")
    if kind == UNSUPPORTED:
        return UnsupportedOperation(f"{ops.features.name} cannot run this statement: {detail}")
    if kind == INVALID or isinstance(exc, sa.exc.DataError):
        # A value the column cannot hold (too long, out of range, malformed): the
        # caller's input, not the server, is at fault.
        return ValidationError(f"invalid value: {detail}")
    if isinstance(exc, sa.exc.StatementError) and not isinstance(exc, sa.exc.DBAPIError) and orig is not None:
        # A parameter a bind processor could not convert, before anything was sent.
        return ValidationError(f"invalid value: {detail}")
    # Whatever else the server or the driver raised (a fault, a resource exhausted): still ours.
    return DatabaseError(f"{ops.features.name}: {detail}")


class SQLConnection(DatabaseConnection):
    """A connection to a relational database through SQLAlchemy.

    ``engine`` and ``session`` (a thread-local ``scoped_session``) are the
    native SQLAlchemy objects. Query-interface writes run in their own short
    transactions and commit before returning, except inside
    :meth:`transaction`.
    """

    plugin_name = "SQL"
    config: SQLConfig

    def _open(
        self,
        config: SQLConfig,
        base: Any = None,
        session_options: dict[str, Any] | None = None,
        use_scoped: bool = True,
    ) -> None:
        url = self._engine_url(config)
        #: The dialect's flags (data) and its operations (behaviour): db_plugins.db.sql.dialects.
        self.features, self.ops = dialect_for(url.get_dialect()(), url)
        if config.replicas and not self.features.replication:
            raise ConfigError(f"DB_CONFIG[{config.section!r}]['REPLICAS']: {self.features.name} has no replicas")
        self._read_pools: dict[sa.engine.Engine, ReadPool] = {}
        self._transactional: dict[sa.engine.Engine, sa.engine.Engine] = {}  # read engine -> its server's other
        self.engine, self.read_engine = self._engines(config)
        self._write_engine = self.engine.execution_options(dbp_write=True)
        self.read_pool = self._read_pools[self.read_engine]
        #: The read replicas (``REPLICAS``), ``None`` without: see :mod:`.replicas`.
        self.replicas: Replicas | None = None
        if config.replicas:
            found = [Replica(replica.masked_url, self._engines(replica)[1]) for replica in config.replicas]
            self.replicas = Replicas(self, found, config.max_replica_lag)
        self.executor = Executor(self)
        session_options = {"expire_on_commit": False, **(session_options or {})}
        self._sessions = orm.sessionmaker(bind=self.engine, **session_options)
        self._write_sessions = orm.sessionmaker(bind=self._write_engine, **session_options)
        self.session = orm.scoped_session(self._sessions) if use_scoped else self._sessions()
        self._base = base
        self._local = self._new_local()
        # A driver option the driver does not know (in ENGINE_OPTIONS' connect_args or the URL's
        # query string) only shows at the first connect: a settings mistake, not a server failure.
        options_hint = (
            f"DB_CONFIG[{config.section!r}]: the driver refused an option (ENGINE_OPTIONS connect_args or URL query)"
        )
        try:
            first = self.engine.connect()
        except TypeError as exc:
            raise ConfigError(f"{options_hint}: {_first_line(scrub(exc))}") from None
        except sa.exc.DBAPIError as exc:
            new = translate_error(exc, self.ops, config.masked_url)
            detail = _first_line(scrub(exc.orig or exc))
            unclassified = type(new) is DatabaseError
            if unclassified and exc.orig is not None and self.ops.classify(exc.orig) == RETRY:
                raise ConnectionError(f"cannot use database {config.masked_url}: {detail}") from exc  # still busy
            if unclassified:  # neither the server nor the credentials: the options (psycopg2's "invalid dsn")
                raise ConfigError(f"{options_hint}: {detail}") from exc
            raise new from exc
        with self.guard(), first as connection:
            self.ops.detect(connection)
        if self.replicas is not None:
            self.replicas.open()

    def _engines(self, config: SQLConfig) -> tuple[sa.engine.Engine, sa.engine.Engine]:
        """The engine of ``config``'s server and the one its reads outside a transaction use
        (see :mod:`.execute`): a second one in autocommit mode where ``features.autocommit_pool``
        says so, except for one shared in-memory database (a static pool has one connection)."""
        url = self._engine_url(config)
        options = self.ops.engine_options(url)
        user = dict(config.engine_options)
        options["connect_args"].update(user.pop("connect_args", {}) or {})
        options.update(user)
        where = f"DB_CONFIG[{config.section!r}]['ENGINE_OPTIONS']"
        try:
            engine = self._create_engine(url, options)
        except (TypeError, ValueError, sa.exc.ArgumentError) as exc:
            raise ConfigError(f"{where}: {_first_line(scrub(exc))}") from None
        self._prepare_engine(engine)
        read_engine = engine
        if self.features.autocommit_pool and not isinstance(engine.pool, _SHARED_POOLS):
            # Nothing to roll back on return: no reset round trip.
            read_options = {**options, "isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None}
            read_engine = self._create_engine(url, read_options)
            self._prepare_engine(read_engine)
        self._read_pools[read_engine] = self._read_pool(read_engine, keep=read_engine is not engine)
        self._transactional[read_engine] = engine
        return engine, read_engine

    def _prepare_engine(self, engine: sa.engine.Engine) -> None:
        self.ops.on_engine(engine)
        datetimes.install(engine, self.ops)
        self.ops.ping_idle_connections(engine)

    def _read_pool(self, engine: sa.engine.Engine, keep: bool) -> ReadPool:
        # The asyncio connection's reads skip the driver's DBAPI adapter here.
        return ReadPool(engine, self.features, keep)

    def transactional(self, read_engine: sa.engine.Engine) -> sa.engine.Engine:
        """The engine of the same server as ``read_engine`` whose connections open transactions."""
        return self._transactional[read_engine]

    def pool_for(self, engine: sa.engine.Engine) -> ReadPool:
        """The :class:`~.execute.ReadPool` of a read engine (the primary's or a replica's)."""
        return self._read_pools[engine]

    def replica_status(self) -> list[dict[str, Any]]:
        return [] if self.replicas is None else self.replicas.status()

    def _engine_url(self, config: SQLConfig) -> sa.engine.URL:
        assert config.sa_url is not None
        return config.sa_url

    def _create_engine(self, url: sa.engine.URL, options: dict[str, Any]) -> sa.engine.Engine:
        # The asyncio connection makes its engine over an async driver here.
        return sa.create_engine(url, **options)

    # -- models -----------------------------------------------------------------

    @property
    def metadata(self) -> sa.MetaData:
        """The ``MetaData`` of the configured models (``base`` argument > ``MODELS`` > ``db_plugins.db.sql.Base``)."""
        if self._base is None:
            self._base = find_base(self.config.load_models()) if self.config.models else None
        if self._base is None:
            from .models import Base

            self._base = Base
        return self._base if isinstance(self._base, sa.MetaData) else self._base.metadata

    def create_db(self) -> None:
        """Create every table of the configured models that does not exist yet."""
        with self.guard():
            self.ops.schema(self.metadata).create_all(self.engine)

    def drop_db(self) -> None:
        """Drop every table of the configured models."""
        with self.guard():
            self.ops.schema(self.metadata).drop_all(self.engine)

    def _new_query(self, model: Any) -> Any:
        from .query import SQLQuery  # (it imports this module)

        return SQLQuery(self, model)

    def close(self) -> None:
        """Dispose of the connection pool (and the thread's scoped session)."""
        if isinstance(self.session, orm.scoped_session):
            self.session.remove()
        else:
            self.session.close()
        for pool in self._read_pools.values():
            pool.close()
        for engine in {*self._transactional, *self._transactional.values()}:
            engine.dispose()
        if self.replicas is not None:
            self.replicas.close()

    # -- transactions -----------------------------------------------------------

    @property
    def _stack(self) -> list[orm.Session]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    @property
    def in_transaction(self) -> bool:
        return bool(self._stack)

    @property
    def routes_reads(self) -> bool:
        return self.replicas is not None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[orm.Session]:
        """Group writes: they commit together at exit and roll back on an exception.

        Nested blocks use savepoints. The block's session is yielded.
        """
        stack = self._stack
        if stack:
            if not self.features.savepoints:
                raise UnsupportedOperation(
                    f"{self.features.name} has no savepoints: a db.transaction() block cannot be nested in another"
                )
            session = stack[-1]
            with self.guard():
                nested = session.begin_nested()
            try:
                yield session
            except BaseException:
                if nested.is_active:
                    nested.rollback()
                raise
            else:
                with self.guard():
                    nested.commit()
            return
        session = self._write_sessions()
        stack.append(session)
        try:
            with self.guard():
                session.begin()
            yield session
            with self.guard():
                session.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                session.rollback()
            raise
        finally:
            stack.pop()
            session.close()

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Translate driver errors raised in the block to db_plugins errors."""
        try:
            yield
        except sa.exc.SQLAlchemyError as exc:
            new = translate_error(exc, self.ops, self.config.masked_url)
            if new is exc:
                raise
            raise new from exc

    def translated(self, exc: sa.exc.SQLAlchemyError) -> BaseException:
        """``exc`` as the db_plugins error :meth:`guard` raises for it."""
        return translate_error(exc, self.ops, self.config.masked_url)

    def run(self, work: Callable[[orm.Session], T], *, write: bool = True, retry: bool = True) -> T:
        """Run ``work(session)`` in a transaction of its own (or the current :meth:`transaction`).

        Deadlocks and busy errors are retried a few times with back-off when
        the transaction is ours to retry.
        """
        stack = self._stack
        if stack:
            with self.guard():
                return work(stack[-1])
        factory = self._write_sessions if write else self._sessions
        for attempt in range(RETRY_ATTEMPTS):
            session = factory()
            try:
                result = work(session)
                session.commit()
                return result
            except sa.exc.DBAPIError as exc:
                _rollback(session)
                orig = getattr(exc, "orig", None)
                transient = orig is not None and self.ops.classify(orig) == RETRY
                if retry and transient and attempt + 1 < RETRY_ATTEMPTS:
                    pause(0.01 * 2**attempt)
                    continue
                raise translate_error(exc, self.ops, self.config.masked_url) from exc
            except sa.exc.SQLAlchemyError as exc:
                _rollback(session)
                new = translate_error(exc, self.ops, self.config.masked_url)
                if new is exc:
                    raise
                raise new from exc
            except BaseException as exc:
                if is_exit_exception(exc):
                    _invalidate(session)
                else:
                    _rollback(session)
                raise
            finally:
                session.close()
        raise AssertionError("unreachable")


def _rollback(session: orm.Session) -> None:
    """Roll back after a failure. A connection that died cannot (the server discards its
    transaction anyway), and that second error must not hide the one being raised."""
    with contextlib.suppress(sa.exc.SQLAlchemyError):
        session.rollback()


def _invalidate(session: orm.Session) -> None:
    """Give up the session's connection after an interruption (a cancelled task, Ctrl-C): a
    driver call cut off midway (asyncpg's COPY, its BEGIN) leaves the connection in a state
    neither SQLAlchemy nor a rollback knows, so it is closed, not reused (SQLAlchemy's own rule
    for a statement it runs)."""
    if session.in_transaction():
        with contextlib.suppress(Exception):
            session.connection().invalidate()


def _first_line(text: str) -> str:
    return " ".join(text.strip().splitlines()[:1]).strip()


def find_base(models: Any) -> Any:
    """The declarative base (or ``MetaData``) that a ``MODELS`` setting names."""
    if models is None or isinstance(models, sa.MetaData):
        return models
    if not isinstance(models, types.ModuleType):
        if isinstance(getattr(models, "metadata", None), sa.MetaData):
            return models
        raise ConfigError(f"MODELS: expected a module, a declarative base or a MetaData, got {type(models).__name__}")
    name = models.__name__
    found = vars(models).get("Base")
    if isinstance(getattr(found, "metadata", None), sa.MetaData):
        return found
    bases = {}
    for value in vars(models).values():
        metadata = getattr(value, "metadata", None)
        if isinstance(value, type) and isinstance(metadata, sa.MetaData) and "__table__" not in vars(value):
            bases.setdefault(id(metadata), value)
    if len(bases) == 1:
        return next(iter(bases.values()))
    if not bases:
        raise ConfigError(f"MODELS: {name} defines no declarative base (name it as '{name}:Base')")
    raise ConfigError(f"MODELS: {name} defines several declarative bases; name one as '{name}:Base'")


class SQLDatabaseCreator(DatabaseCreator):
    """The seed's factory for :class:`SQLConnection` (``new_DBConnection(SQLDatabaseCreator)``)."""

    @classmethod
    def create_database(cls) -> SQLConnection:
        return SQLConnection()
