"""The asyncio API behind the sync API's face, so the contract suite runs unchanged on it.

An event loop runs in a thread of its own; each calling thread gets one task
on it that runs that thread's calls in turn (so a ``db.transaction()`` block,
whose state is per task, spans the calls of the thread that opened it, and
threads stay concurrent). Results, pages and errors come back as the sync API
gives them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import db_plugins
from db_plugins import Pagination
from db_plugins.aio import AsyncPagination, AsyncQuery, AsyncStream
from tests.aio.hygiene import SLOW_CALLBACK, LoopWatch

#: The contract's loop runs a thousand tests, two processes at a time, on a machine shared with
#: other jobs: its steps waited up to 1.7 s with no thread of the process computing, the loop
#: thread sampled in asyncio's own machinery (the whole process not scheduled). A blocking call
#: is tests/aio's to catch at SLOW_CALLBACK; here, one far longer than that.
CONTRACT_SLOW_CALLBACK = max(SLOW_CALLBACK, 2.5)


class Loop:
    """An event loop in a daemon thread, in debug mode: ``watch`` collects each step slower than
    ``slow`` seconds (a blocking call) and each error asyncio reports, for the test to fail on."""

    def __init__(self, slow: float = CONTRACT_SLOW_CALLBACK) -> None:
        self.loop = asyncio.new_event_loop()
        self.watch = LoopWatch(self.loop, slow)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="dbp-async-loop")
        self._thread.start()
        self.watch.attach(self._thread.ident)
        self._workers: dict[int, asyncio.Queue[Any]] = {}
        self._lock = threading.Lock()

    def run(self, factory: Callable[[], Awaitable[Any]]) -> Any:
        """``await factory()`` on the loop, in the calling thread's task; its result or its exception."""
        queue = self._queue()
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.loop.call_soon_threadsafe(queue.put_nowait, (factory, done))
        return done.result()

    def _queue(self) -> asyncio.Queue[Any]:
        ident = threading.get_ident()
        with self._lock:
            queue = self._workers.get(ident)
            if queue is None:
                queue = self._workers[ident] = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result()
        return queue

    async def _start(self) -> asyncio.Queue[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        asyncio.get_running_loop().create_task(_worker(queue))
        return queue

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(_cancel_others(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()
        self.watch.detach()


async def _cancel_others() -> None:
    # The workers end before the loop does: a task left pending errs when collected.
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _worker(queue: asyncio.Queue[Any]) -> None:
    while True:
        factory, done = await queue.get()
        result = None
        try:
            result = await factory()
        except BaseException as exc:
            done.set_exception(exc)
            del exc
        else:
            done.set_result(result)
        # Keep no result alive between calls, as a sync caller that drops it does not
        # (the ORM's identity map is weak: a kept instance changes what a session sees).
        del factory, done, result


#: What the facade takes from the asyncio connection itself (a test may change its features).
_OWN = frozenset({"features", "config", "ops", "metadata", "models", "in_transaction"})


class SyncFacade:
    """An :class:`~db_plugins.aio.AsyncConnection` used as a sync connection."""

    def __init__(self, connection: Any, loop: Loop, native: Any) -> None:
        self.aio = connection
        self._loop = loop
        self.native = native

    @classmethod
    def connect(cls, config: Any, loop: Loop, driver: str | None = None) -> SyncFacade:
        """The asyncio connection (through ``driver`` when given: its URL names it) and a sync one."""
        aio = config
        if driver:
            import sqlalchemy as sa

            url = sa.make_url(config["URL"])
            url = url.set(drivername=f"{url.get_backend_name()}+{driver}").render_as_string(hide_password=False)
            aio = {**config, "URL": url}
        return cls(loop.run(lambda: db_plugins.connect_async(aio)), loop, db_plugins.connect(config))

    def __getattr__(self, name: str) -> Any:
        if name in _OWN:
            return getattr(self.aio.sync, name)
        # A test's native access (engine, session, database, features) goes to a sync
        # connection to the same database: the asyncio engine's objects need the loop.
        return getattr(self.native, name)

    def query(self, model: Any) -> QueryFacade:
        return QueryFacade(self.aio.query(model), self._loop)

    def create_db(self) -> None:
        self._loop.run(self.aio.create_db)

    def drop_db(self) -> None:
        self._loop.run(self.aio.drop_db)

    def close(self) -> None:
        self._loop.run(self.aio.close)
        self.native.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        block = self.aio.transaction()
        session = self._loop.run(block.__aenter__)
        try:
            yield session
        except BaseException as exc:
            if not self._loop.run(functools.partial(block.__aexit__, type(exc), exc, exc.__traceback__)):
                raise
        else:
            self._loop.run(lambda: block.__aexit__(None, None, None))

    def __enter__(self) -> SyncFacade:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class QueryFacade:
    """An :class:`~db_plugins.aio.AsyncQuery` used as a sync query."""

    def __init__(self, query: AsyncQuery[Any], loop: Loop) -> None:
        self.aio = query
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        attr = getattr(type(self.aio), name, None)
        if attr is None or not callable(attr):
            return getattr(self.aio.sync, name)  # model, primary_key, select(), parse_filter, ...
        method = getattr(self.aio, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return _synced(self._loop.run(lambda: method(*args, **kwargs)), self._loop)

        return call

    def find_all(self, *args: Any, **kwargs: Any) -> Any:
        result = self.aio.find_all(*args, **kwargs)
        if isinstance(result, AsyncStream):
            return _stream(result, self._loop)
        return _synced(self._loop.run(lambda: result), self._loop)

    def __repr__(self) -> str:
        return repr(self.aio.sync)


def _synced(value: Any, loop: Loop) -> Any:
    return PageFacade(value, loop) if isinstance(value, AsyncPagination) else value


class PageFacade(Pagination):
    """An :class:`~db_plugins.aio.AsyncPagination` used as a :class:`~db_plugins.Pagination`."""

    def __init__(self, page: AsyncPagination[Any], loop: Loop) -> None:
        self.aio = page
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        return getattr(self.aio.sync, name)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.aio.sync)

    def __len__(self) -> int:
        return len(self.aio.sync)

    def next(self) -> PageFacade:
        return PageFacade(self._loop.run(self.aio.next), self._loop)

    def prev(self) -> PageFacade:
        return PageFacade(self._loop.run(self.aio.prev), self._loop)

    def iter_pages(self, *args: Any, **kwargs: Any) -> Any:
        return self.aio.sync.iter_pages(*args, **kwargs)


def _stream(stream: AsyncStream, loop: Loop) -> Iterator[Any]:
    sentinel = object()

    async def step() -> Any:
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            return sentinel

    try:
        while True:
            item = loop.run(step)
            if item is sentinel:
                return
            yield item
    finally:
        loop.run(stream.aclose)
