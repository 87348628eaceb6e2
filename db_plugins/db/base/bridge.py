"""Running the sync query code on an event loop: greenlets between sync code and awaits.

The async API runs the very methods of the sync query (parsing, checks,
compiling, paginate, get_or_create) in a greenlet (:func:`spawn`); where they
reach the driver, an async executor hands the driver's awaitable to the event
loop with :func:`wait` and the greenlet resumes with its result. So there is
one copy of the query logic, and what differs between sync and async is the
executor alone. SQLAlchemy's asyncio extension is built the same way; its
``await_`` is :func:`wait`, so its async DBAPI adapters work inside ours. The
greenlets are kept and reused from call to call (see ``_Worker``).
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.util.concurrency import await_ as _await
from sqlalchemy.util.concurrency import in_greenlet

try:
    from greenlet import GreenletExit, getcurrent, greenlet
except ImportError:  # the [async] extra installs it; the sync API runs without
    greenlet = None

__all__ = ["TaskLocal", "in_greenlet", "pause", "spawn", "wait"]

T = TypeVar("T")

#: Idle greenlets kept per thread for the next :func:`spawn`.
IDLE_WORKERS = 64


class _Outcome:
    """What a worker hands back at the end of a call (anything else it hands back is an awaitable)."""

    __slots__ = ("error", "value")

    def __init__(self, value: Any, error: BaseException | None) -> None:
        self.value = value
        self.error = error


def _serve(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """A worker's life: one call after another, until it is handed no function."""
    while fn is not None:
        try:
            outcome = _Outcome(fn(*args, **kwargs), None)
        except GreenletExit:  # the worker itself is being ended
            raise
        except BaseException as exc:
            outcome = _Outcome(None, exc)
        fn = args = kwargs = None  # type: ignore[assignment]  # (nothing kept alive while idle)
        fn, args, kwargs = getcurrent().parent.switch(outcome)


if greenlet is not None:

    class _Worker(greenlet):
        """A greenlet that runs one :func:`spawn` call after another.

        Starting a greenlet costs about 10 us (its first frame gets a data stack
        of its own from the system), more than a one-row read through asyncpg;
        resuming a suspended one costs well under 1 us. The marker lets
        SQLAlchemy's ``await_`` (what :func:`wait` is) and its async DBAPI
        adapters run in it, as in the greenlets of SQLAlchemy's ``greenlet_spawn``.
        """

        __sqlalchemy_greenlet_provider__ = True


_local = threading.local()


def _idle_workers() -> list[Any]:
    """This thread's idle workers (made at its first :func:`spawn`)."""
    if greenlet is None:
        raise ImportError("the asyncio API needs the greenlet package: pip install 'db-plugins[async]'")
    idle = _local.idle = []
    return idle


async def spawn(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` run in a greenlet whose :func:`wait` calls await on this loop."""
    try:
        idle = _local.idle
    except AttributeError:
        idle = _idle_workers()
    driver = getcurrent()
    worker = idle.pop() if idle else _Worker(_serve)
    worker.parent = driver
    worker.gr_context = driver.gr_context  # the task's context variables, in the sync code too
    result = worker.switch(fn, args, kwargs)
    while type(result) is not _Outcome:
        try:
            value = await result
        except BaseException:
            # Into the sync code, where it waited (a cancellation, the driver's error).
            result = worker.throw(*sys.exc_info())
        else:
            result = worker.switch(value)
    worker.gr_context = None
    if len(idle) < IDLE_WORKERS:
        idle.append(worker)
    else:
        worker.switch(None, None, None)  # let it end
    error = result.error
    if error is not None:
        result.error = None
        try:
            raise error
        finally:
            error = None  # (no cycle through this frame, which its traceback holds)
    value, result.value = result.value, None
    return value  # type: ignore[no-any-return]


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
        # The last task's space and a weak reference to that task, in one tuple (read whole by
        # any thread): a task's calls touch its attributes several times in a row.
        object.__setattr__(self, "_last", (_dead, _NOTHING))

    def _space(self, create: bool) -> dict[str, Any]:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no loop in this thread
            task = None
        if task is None:
            return self._thread.__dict__
        last = self._last
        if last[0]() is task:
            space = last[1]
            if space is not _NOTHING or not create:
                return space  # type: ignore[no-any-return]
        else:
            # (Looked up before it is made: setdefault would make a dict and a weak reference per read.)
            space = self._by_task.get(task, _NOTHING)
        if space is _NOTHING and create:
            space = self._by_task[task] = {}
        object.__setattr__(self, "_last", (weakref.ref(task), space))
        return space  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        try:
            return self._space(False)[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._space(True)[name] = value


#: What a task that has set nothing reads (never written to).
_NOTHING: dict[str, Any] = {}


def _dead() -> None:
    """What :class:`TaskLocal` remembers before its first task: a reference to no task."""
    return None
