"""``MongoConnection``: the client, the database, error translation, transactions, create/drop."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pymongo
from bson import errors as bson_errors
from pymongo import errors as mongo_errors

from ...config import scrub
from ...errors import (
    ConfigError,
    DBPluginsError,
    UnsupportedOperation,
)
from ..generic import DatabaseConnection, DatabaseCreator
from .config import MongoConfig
from .errors import DUPLICATE_CODES, translate_error
from .executor import SyncExecutor
from .features import MongoFeatures, features_for
from .models import BaseModel, collect_models, index_models
from .query import MongoQuery

__all__ = ["MongoConnection", "MongoDatabaseCreator", "translate_error", "DUPLICATE_CODES"]

# mongomock:// servers of this process, by host: every connection to one URL sees
# the same data, as with a real server. Each has one lock, because mongomock's
# check-then-write steps (unique keys, upserts) are not atomic across threads.
_EMBEDDED: dict[str, tuple[Any, threading.RLock]] = {}
_EMBEDDED_LOCK = threading.Lock()


def _embedded_server(host: str) -> tuple[Any, threading.RLock]:
    from mongomock.store import ServerStore

    with _EMBEDDED_LOCK:
        if host not in _EMBEDDED:
            _EMBEDDED[host] = (ServerStore(), threading.RLock())
        return _EMBEDDED[host]


class MongoConnection(DatabaseConnection):
    """A connection to one MongoDB database through pymongo (or mongomock for ``mongomock://``).

    ``client`` and ``database`` are the native pymongo objects and
    ``features`` what the server can do. Each query-interface write is atomic
    on its own document(s) and acknowledged when the method returns; on
    servers with transactions, :meth:`transaction` groups several.
    """

    plugin_name = "MONGO"
    config: MongoConfig

    def _open(self, config: MongoConfig, models: Any = None) -> None:
        self.features: MongoFeatures = features_for(config.embedded)
        self._models_source = models
        self._models: list[type[BaseModel]] | None = None
        self._local = self._new_local()
        self._write_lock: threading.RLock | None = None
        if config.embedded:
            self.client = self._embedded_client(config)
        else:
            options = dict(config.options)
            for option, value in self.features.client_defaults.items():
                if not _url_sets(config.url, option):
                    options.setdefault(option, value)
            options.setdefault("appname", "db_plugins")
            self._client_options = options
            try:
                self.client = pymongo.MongoClient(config.url, **options)
            except (mongo_errors.ConfigurationError, mongo_errors.InvalidURI, TypeError, ValueError) as exc:
                raise ConfigError(f"DB_CONFIG[{config.section!r}]: {scrub(exc)}") from None
        self.database = self.client[config.database]
        #: Runs the commands the query interface compiles (see db_plugins.db.mongo.executor).
        self.executor = SyncExecutor(self)
        try:
            with self.guard():
                self.features.detect(self.client)
        except BaseException:
            self.client.close()
            raise

    def _embedded_client(self, config: MongoConfig) -> Any:
        try:
            import mongomock
        except ImportError as exc:
            raise ConfigError(
                f"DB_CONFIG[{config.section!r}]['URL']: mongomock:// needs mongomock (pip install mongomock)"
            ) from exc
        host = config.url.partition("://")[2].split("/", 1)[0].rpartition("@")[2] or "localhost"
        store, self._write_lock = _embedded_server(host)
        options = {k: v for k, v in config.options.items() if k == "tz_aware"}
        return mongomock.MongoClient(f"mongodb://{host}", _store=store, **options)

    # -- models -----------------------------------------------------------------

    @property
    def models(self) -> list[type[BaseModel]]:
        """The configured models (``models`` argument > ``MODELS`` > every model defined)."""
        if self._models is None:
            source = self._models_source
            if source is None and self.config.models:
                source = self.config.load_models()
            self._models = collect_models(source)
        return self._models

    def create_db(self) -> None:
        """Create the collections and indexes of the configured models that do not exist yet."""
        with self.guard(write=True):
            existing = set(self.database.list_collection_names())
            for model in self.models:
                name = model.__tablename__
                assert name is not None
                if name not in existing:
                    with contextlib.suppress(mongo_errors.CollectionInvalid):
                        self.database.create_collection(name)
                collection = self.database[name]
                present = set(collection.index_information())
                for index in index_models(model):
                    # One per call, and only the missing ones: FerretDB 1.24 drops the
                    # connection on a multi-index createIndexes naming an existing one.
                    if index.document["name"] not in present:
                        collection.create_indexes([index])

    def drop_db(self) -> None:
        """Drop the collections of the configured models."""
        with self.guard(write=True):
            for model in self.models:
                self.database.drop_collection(model.__tablename__)

    def _new_query(self, model: Any) -> Any:
        return MongoQuery(self, model)

    def close(self) -> None:
        """Close the client's sockets and monitors; ``connect`` may open it again."""
        self.client.close()

    # -- errors and serialization ---------------------------------------------

    @contextlib.contextmanager
    def guard(self, write: bool = False) -> Iterator[None]:
        """Translate pymongo errors raised in the block; serialize writes on in-process engines."""
        lock = self._write_lock if write else None
        try:
            with lock if lock is not None else contextlib.nullcontext():
                yield
        except (mongo_errors.PyMongoError, bson_errors.BSONError) as exc:
            new = translate_error(exc, self.config.masked_url, self.features.name)
            if new is exc:
                raise
            raise new from exc
        except NotImplementedError as exc:
            if isinstance(exc, DBPluginsError) or not self.features.in_process:
                raise
            # mongomock has no implementation of this query (a sort over Decimal128, ...).
            raise UnsupportedOperation(f"{self.features.name} cannot run this query: {exc}") from exc

    # -- transactions ---------------------------------------------------------

    @property
    def session(self) -> Any:
        """The client session of this thread's :meth:`transaction`, or ``None``."""
        return getattr(self._local, "session", None)

    @property
    def in_transaction(self) -> bool:
        return self.session is not None

    def session_args(self) -> dict[str, Any]:
        """``session=...`` for pymongo calls inside a transaction (mongomock refuses even ``None``)."""
        session = self.session
        return {"session": session} if session is not None else {}

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """Group writes in a client-session transaction: committed at exit, aborted on an exception.

        Needs a server with transactions (a MongoDB replica set or sharded
        cluster, see ``features.transactions``); elsewhere raises
        :class:`~db_plugins.UnsupportedOperation` before anything is written.
        MongoDB has no savepoints, so a nested block is refused too.
        """
        if not self.features.transactions:
            raise UnsupportedOperation(
                f"transaction: {self.features.describe()} at {self.config.masked_url} has no multi-document "
                "transactions (they need a MongoDB replica set or sharded cluster); "
                "each write is atomic on its own documents"
            )
        if self.in_transaction:
            raise UnsupportedOperation("transaction: MongoDB cannot nest transactions (there are no savepoints)")
        call = self._session_call
        with self.guard():
            session = self._start_session()
            call(session.start_transaction)
        self._local.session = session
        try:
            yield session
        except BaseException:
            with contextlib.suppress(mongo_errors.PyMongoError):
                call(session.abort_transaction)
            raise
        else:
            with self.guard():
                call(session.commit_transaction)
        finally:
            self._local.session = None
            call(session.end_session)

    def _start_session(self) -> Any:
        """A session of the client the executor runs on (the asyncio connection's async client)."""
        return self.client.start_session()

    def _session_call(self, method: Any) -> Any:
        """Call a session's method (the asyncio connection awaits it)."""
        return method()


def _url_sets(url: str, option: str) -> bool:
    """Whether the URL's query string sets ``option`` (names are case-insensitive)."""
    query = url.partition("?")[2]
    return any(pair.partition("=")[0].lower() == option for pair in query.split("&") if pair)


class MongoDatabaseCreator(DatabaseCreator):
    """The seed's factory for :class:`MongoConnection` (``new_DBConnection(MongoDatabaseCreator)``)."""

    @classmethod
    def create_database(cls) -> MongoConnection:
        return MongoConnection()
