"""The asyncio API: :func:`connect_async` and the awaitable query interface.

Every method runs the sync query's own code (checks, compiling, paginate,
get_or_create) in a greenlet (:mod:`db_plugins.db.base.bridge`); the
connection's executor awaits the async driver where the sync one would block.
So filters, ordering, cursors, errors and values are those of the sync API,
and a cursor from one works on the other.

>>> import asyncio, db_plugins
>>> async def main():
...     async with await db_plugins.connect_async("sqlite://") as db:
...         return db.features.name
>>> asyncio.run(main())
'sqlite'
"""

from __future__ import annotations

import functools
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, Generic, TypeVar

from .db.base.bridge import spawn, wait
from .pagination import Pagination
from .registry import get_plugin, resolve_config

__all__ = ["AsyncConnection", "AsyncPagination", "AsyncQuery", "AsyncStream", "connect_async"]

M = TypeVar("M")
T = TypeVar("T")


async def connect_async(config_or_url: Any, plugin: str | None = None) -> AsyncConnection:
    """Open an :class:`AsyncConnection` from what :func:`db_plugins.connect` accepts.

    Sync URLs work unchanged (the engine's asyncio driver is chosen); a URL
    naming an async driver (``postgresql+asyncpg://``) is used as it is.
    """
    config = resolve_config(config_or_url, plugin)
    opener = get_plugin(config.plugin).async_connection
    return AsyncConnection(await spawn(opener, config))


class AsyncConnection:
    """An open connection of the asyncio API (an async context manager).

    ``sync`` is the plugin's connection object the calls run on; its
    ``features``, ``config`` and native objects are reachable here too.
    """

    def __init__(self, sync: Any) -> None:
        self.sync = sync

    def __getattr__(self, name: str) -> Any:
        # features, config, metadata, models, engine, database, ...: as on the sync connection.
        return getattr(self.sync, name)

    def query(self, model: Any) -> AsyncQuery[Any]:
        """The awaitable query interface for ``model``."""
        return AsyncQuery(self.sync.query(model))

    async def create_db(self) -> None:
        """Create the configured models' tables/collections that do not exist yet."""
        await spawn(self.sync.create_db)

    async def drop_db(self) -> None:
        """Drop the configured models' tables/collections."""
        await spawn(self.sync.drop_db)

    async def close(self) -> None:
        """Close the connection's pools and clients."""
        await spawn(self.sync.close)

    async def replica_status(self) -> list[dict[str, Any]]:
        """Each read replica's state, asked now: as the sync ``replica_status()``."""
        return await spawn(self.sync.replica_status)

    def transaction(self) -> _AsyncTransaction:
        """``async with db.transaction():`` groups this task's writes, as ``db.transaction()`` does."""
        return _AsyncTransaction(self.sync)

    async def __aenter__(self) -> AsyncConnection:
        """``async with await connect_async(...) as db:`` -- the connection itself."""
        return self

    async def __aexit__(self, *exc: Any) -> None:
        """Close the connection (as :meth:`close`)."""
        await self.close()

    def __repr__(self) -> str:
        return f"<AsyncConnection {self.sync!r}>"


class _AsyncTransaction:
    def __init__(self, sync: Any) -> None:
        self._sync = sync
        self._block: Any = None

    async def __aenter__(self) -> Any:
        self._block = self._sync.transaction()
        return await spawn(self._block.__enter__)

    async def __aexit__(self, *exc: Any) -> bool:
        return bool(await spawn(self._block.__exit__, *exc))


class AsyncQuery(Generic[M]):
    """The sync query's methods as coroutines; its other attributes (``model``, ``primary_key``,
    ``select()``, ...) as they are."""

    def __init__(self, query: Any) -> None:
        self.sync = query

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sync, name)

    async def insert(self, obj: Any) -> M:
        """Store one row (a dict or a model instance); the stored instance, generated keys filled in."""
        return await spawn(self.sync.insert, obj)

    async def bulk_insert(
        self,
        rows: Iterable[Any] | AsyncIterable[Any],
        on_conflict: str = "error",
        conflict_on: str | Sequence[str] | None = None,
    ) -> int:
        """Store many rows; the number written. As the sync ``bulk_insert`` (``on_conflict`` "error",
        "ignore" or "update"); ``rows`` may also be an async iterable, read as the batches fill."""
        if isinstance(rows, AsyncIterable):
            rows = _waiting(rows)
        return await spawn(self.sync.bulk_insert, rows, on_conflict, conflict_on)

    async def update(self, instance: M, attrs: Mapping[str, Any]) -> M:
        """Set ``attrs`` on ``instance``'s row and on ``instance``; the instance."""
        return await spawn(self.sync.update, instance, attrs)

    async def update_many(self, filter_by: Any, attrs: Mapping[str, Any]) -> int:
        """Set ``attrs`` on every row matching ``filter_by``; how many rows matched."""
        return await spawn(self.sync.update_many, filter_by, attrs)

    async def bulk_update(self, instances: Sequence[M], attrs_list: Sequence[Mapping[str, Any]]) -> int:
        """Set ``attrs_list[i]`` on ``instances[i]``; how many rows matched."""
        return await spawn(self.sync.bulk_update, instances, attrs_list)

    async def delete(self, filter_by: Any = None, *, all: bool = False) -> int:  # noqa: A002
        """Delete the rows matching ``filter_by`` (an empty filter needs ``all=True``); how many."""
        return await spawn(self.sync.delete, filter_by, all=all)

    async def find_one(self, filter_by: Any = None, order_by: Any = None, fields: Any = None) -> M | None:
        """The first row matching ``filter_by`` in ``order_by`` order, or ``None``."""
        return await spawn(self.sync.find_one, filter_by, order_by, fields)

    async def count(self, filter_by: Any = None, max_results: int | None = None) -> int:
        """How many rows match ``filter_by`` (at most ``max_results`` when given)."""
        return await spawn(self.sync.count, filter_by, max_results)

    async def check_exists(self, filter_by: Any = None) -> bool:
        """Whether at least one row matches ``filter_by``."""
        return await spawn(self.sync.check_exists, filter_by)

    async def get_or_create(self, filter_by: Mapping[str, Any], **defaults: Any) -> tuple[M, bool]:
        """``(row, False)`` if one matches ``filter_by``, else ``(new row, True)`` made from it and
        ``defaults``; one row however many tasks ask at once."""
        return await spawn(self.sync.get_or_create, filter_by, **defaults)

    async def paginate(self, *args: Any, **kwargs: Any) -> AsyncPagination[M]:
        """One page, as the sync ``paginate`` (``page``, ``per_page``, ``count``, ``max_results``,
        ``filter_by``, ``order_by``, ``after``, ``fields``); ``await page.next()`` / ``await page.prev()``."""
        return AsyncPagination(await spawn(self.sync.paginate, *args, **kwargs))

    def find_all(self, filter_by: Any = None, order_by: Any = None, paginate: bool = True, **kwargs: Any) -> Any:
        """Awaitable :class:`AsyncPagination`; with ``paginate=False`` an async iterator streaming every match."""
        if paginate:
            return self.paginate(filter_by=filter_by, order_by=order_by, **kwargs)
        # Bad arguments raise here, as on the sync API; the cursor opens at the first item.
        fields = kwargs.pop("fields", None)
        return AsyncStream(self.sync._stream, *self.sync.stream_args(filter_by, order_by, fields, **kwargs))


class AsyncPagination(Generic[M]):
    """A :class:`~db_plugins.Pagination` whose ``next()`` and ``prev()`` are coroutines.

    Its other attributes (``items``, ``total``, ``has_next``, ``next_cursor``,
    ``prev_cursor``, ...) are the sync page's.
    """

    def __init__(self, page: Pagination[M]) -> None:
        self.sync = page

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sync, name)

    def __iter__(self) -> Iterator[M]:
        """The page's items (already read: a plain ``for``)."""
        return iter(self.sync)

    def __len__(self) -> int:
        """How many items the page holds."""
        return len(self.sync)

    async def next(self) -> AsyncPagination[M]:
        """The following page, read by keyset as the sync ``next()``."""
        return AsyncPagination(await spawn(self.sync.next))

    async def prev(self) -> AsyncPagination[M]:
        """The page before, read by keyset as the sync ``prev()``."""
        return AsyncPagination(await spawn(self.sync.prev))

    def __repr__(self) -> str:
        return repr(self.sync)


class AsyncStream(AsyncIterator[Any]):
    """``async for`` over the sync stream: one server-side cursor, read batch by batch.

    Leaving the loop early and dropping the stream closes the cursor too: the rows come from
    an async generator, which the event loop closes when it is collected (``aclose()`` closes
    it at once).
    """

    def __init__(self, start: Callable[..., Iterator[Any]], *args: Any, **kwargs: Any) -> None:
        self._rows = _streamed(functools.partial(start, *args, **kwargs))

    def __aiter__(self) -> AsyncStream:
        """The stream itself: it is read once."""
        return self

    def __anext__(self) -> Awaitable[Any]:
        return self._rows.__anext__()

    async def aclose(self) -> None:
        """Close the server cursor now (as leaving an ``async for`` early does not)."""
        await self._rows.aclose()


async def _streamed(start: Callable[[], Iterator[Any]]) -> AsyncGenerator[Any, None]:
    iterator: Iterator[Any] | None = None

    def fill() -> list[Any]:
        nonlocal iterator
        if iterator is None:
            iterator = start()
        # Up to a batch per crossing into the greenlet.
        return [row for _, row in zip(range(STREAM_CHUNK), iterator)]

    try:
        while batch := await spawn(fill):
            for row in batch:
                yield row
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            await spawn(close)


#: Results handed out per crossing into the sync stream.
STREAM_CHUNK = 100


def _waiting(rows: AsyncIterable[Any]) -> Iterator[Any]:
    """A sync iterator over ``rows``: each item awaited from the greenlet (the loop keeps running)."""
    iterator = rows.__aiter__()
    while True:
        try:
            yield wait(iterator.__anext__())
        except StopAsyncIteration:
            return
