"""Running the sync query code on an event loop: greenlets between sync code and awaits.

The async API runs the very methods of the sync query (parsing, checks,
compiling, paginate, get_or_create) in a greenlet (:func:`spawn`); where they
reach the driver, an async executor hands the driver's awaitable to the event
loop with :func:`wait` and the greenlet resumes with its result. So there is
one copy of the query logic, and what differs between sync and async is the
executor alone. SQLAlchemy's asyncio extension is built the same way; its
greenlet runner is used so its async DBAPI adapters work inside ours.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.util.concurrency import await_ as _await
from sqlalchemy.util.concurrency import greenlet_spawn as _spawn
from sqlalchemy.util.concurrency import in_greenlet

__all__ = ["TaskLocal", "in_greenlet", "pause", "spawn", "wait"]

T = TypeVar("T")


async def spawn(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` run in a greenlet whose :func:`wait` calls await on this loop."""
    return await _spawn(fn, *args, **kwargs)


def wait(awaitable: Awaitable[T]) -> T:
    """The result of ``awaitable``, from sync code running under :func:`spawn`."""
    return _await(awaitable)


def pause(seconds: float) -> None:
    """Sleep: under :func:`spawn` by awaiting, so the loop's other tasks (a lock's holder among
    them) run meanwhile; elsewhere by blocking the thread."""
    if in_greenlet():
        wait(asyncio.sleep(seconds))
    else:
        time.sleep(seconds)


class TaskLocal:
    """Attributes local to the current asyncio task (and to the thread outside a loop).

    A connection's transaction state is per thread on the sync API; on an event
    loop, concurrent requests share the thread, so it is per task there.
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_by_task", weakref.WeakKeyDictionary())
        object.__setattr__(self, "_thread", threading.local())

    def _space(self) -> Any:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no loop in this thread
            task = None
        if task is None:
            return self._thread.__dict__
        return self._by_task.setdefault(task, {})

    def __getattr__(self, name: str) -> Any:
        try:
            return self._space()[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._space()[name] = value
