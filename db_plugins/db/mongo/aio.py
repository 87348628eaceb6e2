"""The Mongo connection of the asyncio API: the same commands through ``pymongo.AsyncMongoClient``.

:class:`AsyncExecutor` is the sync executor over collections whose calls
await the async client (through :func:`db_plugins.db.base.bridge.wait`), so
the query code runs unchanged under :func:`~db_plugins.db.base.bridge.spawn`.
The embedded ``mongomock://`` engine has no async client: its calls run in a
worker thread (``asyncio.to_thread``), off the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pymongo
from pymongo.asynchronous.cursor import AsyncCursor

from ..base.bridge import TaskLocal, wait
from .connection import MongoConnection
from .executor import SyncExecutor

__all__ = ["AsyncExecutor", "AsyncMongoConnection"]

#: Documents per crossing when the command sets no batch size (pymongo's first batch).
DEFAULT_BATCH = 101


class _Cursor:
    """A blocking-looking cursor over an async one (or over a sync one run in a thread)."""

    def __init__(self, cursor: Any, call: Callable[..., Any], batch_size: int) -> None:
        self._cursor = cursor
        self._call = call
        self._batch_size = batch_size

    def __iter__(self) -> Iterator[Any]:
        call, cursor = self._call, self._cursor
        while True:
            batch = call(_next_batch, cursor, self._batch_size)
            yield from batch
            if not batch:
                return

    def close(self) -> None:
        self._call(self._cursor.close)


def _next_batch(cursor: Any, size: int) -> Any:
    # A batch per call: the event loop is crossed once per batch, not per document.
    if isinstance(cursor, AsyncCursor):
        return cursor.to_list(size) if cursor.alive else _empty()
    return [document for _, document in zip(range(size), cursor)]


async def _empty() -> list[Any]:
    return []


class _Collection:
    """A collection whose methods block the calling greenlet, not the loop."""

    def __init__(self, collection: Any, call: Callable[..., Any]) -> None:
        self._collection = collection
        self._call = call

    def find(self, *args: Any, **kwargs: Any) -> _Cursor:
        return _Cursor(self._collection.find(*args, **kwargs), self._call, kwargs.get("batch_size") or DEFAULT_BATCH)

    def with_options(self, **options: Any) -> _Collection:
        return _Collection(self._collection.with_options(**options), self._call)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._collection, name)
        # The driver's methods block the greenlet; other attributes pass as they are (a read
        # preference is a callable object, an unknown name a sub-collection: neither is a call).
        return functools.partial(self._call, attr) if inspect.ismethod(attr) else attr


def _awaited(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return wait(method(*args, **kwargs))


def _threaded(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return wait(asyncio.to_thread(method, *args, **kwargs))


class AsyncExecutor(SyncExecutor):
    """Runs the same commands as :class:`SyncExecutor`, awaiting the driver on the event loop."""

    def __init__(self, connection: Any, database: Any, threaded: bool) -> None:
        super().__init__(connection)
        self._database = database
        self._call = _threaded if threaded else _awaited

    def collection(self, name: str) -> Any:
        collection = self._collections.get(name)
        if collection is None:
            collection = self._collections[name] = _Collection(self._database[name], self._call)
        return collection


class _LoopLock:
    """The embedded server's write lock, held by one task at a time and re-entrant within it
    (the ``RLock`` it wraps is per thread, and every task runs on the loop's thread)."""

    def __init__(self, lock: Any) -> None:
        self._lock = lock
        self._tasks = asyncio.Lock()
        self._owner: Any = None
        self._depth = 0

    def __enter__(self) -> None:
        task = asyncio.current_task()
        if self._owner is not task:
            wait(self._tasks.acquire())
            self._owner = task
            self._lock.acquire()
        self._depth += 1

    def __exit__(self, *exc: Any) -> None:
        self._depth -= 1
        if not self._depth:
            self._owner = None
            self._lock.release()
            self._tasks.release()


class AsyncMongoConnection(MongoConnection):
    """A :class:`MongoConnection` whose query interface runs on ``pymongo.AsyncMongoClient``.

    The sync ``client`` stays for administration (features, create/drop, migrations).
    """

    def _open(self, config: Any, models: Any = None) -> None:
        # The sync client's work (its server check, the features' detection) in a worker
        # thread: it would block the event loop.
        _threaded(super()._open, config, models)
        if config.embedded:
            self.async_client = None
            if self._write_lock is not None:
                self._write_lock = _LoopLock(self._write_lock)  # type: ignore[assignment]
            self.executor = AsyncExecutor(self, self.database, threaded=True)
        else:
            self.async_client = pymongo.AsyncMongoClient(config.url, **self._client_options)
            self.executor = AsyncExecutor(self, self.async_client[config.database], threaded=False)

    def _new_local(self) -> Any:
        return TaskLocal()

    def _start_session(self) -> Any:
        # The async client's session: the executor's calls go to that client.
        return self.async_client.start_session()

    def _session_call(self, method: Any) -> Any:
        return wait(method())

    def _admin(self, work: Callable[[], None]) -> None:
        # The sync client's round trips off the loop (a server's; the embedded engine's
        # write lock belongs to the loop's tasks, and its calls do no I/O).
        if self.async_client is None:
            work()
        else:
            _threaded(work)

    def create_db(self) -> None:
        self._admin(super().create_db)

    def drop_db(self) -> None:
        self._admin(super().drop_db)

    def close(self) -> None:
        if self.async_client is not None:
            wait(self.async_client.close())
        self._admin(super().close)  # the sync client ends its server sessions
