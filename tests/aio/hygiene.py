"""Event-loop hygiene as assertions: a blocking call on the loop, a task left pending or a
coroutine never awaited fails the test instead of leaving a line in a log.

asyncio's debug mode logs every callback (one step of a task: the sync code between two
awaits) that runs longer than ``loop.slow_callback_duration`` ("Executing <Task ...> took
0.250 seconds"). :class:`LoopWatch` collects those records and the loop's exception-handler
reports ("Task was destroyed but it is pending!", "Task exception was never retrieved").

The threshold: a step of the asyncio API is compiling a statement, checking a batch of rows
or building a page of instances -- milliseconds of computing. A blocking driver call waits
on the network or the disk for as long as the server takes. asyncio times a step by the
wall clock, so the watch also times the loop thread's CPU, the process's other threads'
(:func:`_time_steps`: they hold the GIL the loop waits for) and the garbage collector: a
step fails when it *waited* longer than ``SLOW_CALLBACK`` while
computing almost nothing (a blocking call), or computed longer than ``CPU_STEP``. Where
Linux tells (``/proc/thread-self/schedstat``, ``getrusage(RUSAGE_THREAD)``), the time the
loop's thread stood runnable in the run queue is no waiting of its own, and a step that
never gave up its core by itself (no voluntary context switch) made no blocking call. The
tests run two at a time on two cores shared with other jobs (load average near 10), where
a runnable thread waits for a core most of the time: 0.5 s stays clear of that and is reached
by any blocking call that has anything to wait for (tests/aio/test_hygiene.py proves it
with ``time.sleep`` and a sync ``pg_sleep`` on the loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import resource
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Iterator
from typing import Any

#: Seconds a loop step may take before the test fails (see the module's docstring).
SLOW_CALLBACK = 0.5

#: Seconds of the loop thread's own computing one step may take (a batch of rows checked
#: between two awaits): a limit on work done on the loop, apart from waiting there.
CPU_STEP = 2.0

#: A step that waited this many times longer than it computed was blocked (a sync driver
#: waits on its socket all along); one that computed a fair share of it was only slowed down
#: by a busy machine (two cores under a load of 10 give a thread a fifth of one).
WAITING_SHARE = 20

#: What asyncio's debug mode logs for a slow step (base_events: "Executing %s took %.3f seconds").
_SLOW_PREFIX = "Executing "


class LoopWatch(logging.Handler):
    """Collects what asyncio reports about one loop: slow steps and exception-handler calls."""

    def __init__(self, loop: asyncio.AbstractEventLoop, slow: float = SLOW_CALLBACK) -> None:
        super().__init__(logging.WARNING)
        self.loop = loop
        self.slow: list[str] = []
        self.errors: list[str] = []
        self._thread: int | None = None
        self._lock = threading.Lock()
        #: The garbage collector's pauses (wall-clock start, end): they stop every thread, and are
        #: no blocking call of the step they fall in.
        self._pauses: list[tuple[float, float]] = []
        self._collecting = 0.0
        loop.set_debug(True)
        loop.slow_callback_duration = slow
        loop.set_exception_handler(self._exception)

    def attach(self, thread: int | None = None) -> None:
        """Listen to asyncio's logger for records emitted on ``thread`` (default: this one)."""
        _time_steps()
        self._thread = thread if thread is not None else threading.get_ident()
        logging.getLogger("asyncio").addHandler(self)
        gc.callbacks.append(self._gc)

    def detach(self) -> None:
        logging.getLogger("asyncio").removeHandler(self)
        if self._gc in gc.callbacks:
            gc.callbacks.remove(self._gc)

    def _gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._collecting = time.time()
        elif self._collecting:
            self._pauses.append((self._collecting, time.time()))
            del self._pauses[:-100]

    def _paused(self, start: float, end: float) -> float:
        """Seconds of garbage collection between ``start`` and ``end``."""
        return sum(max(0.0, min(end, b) - max(start, a)) for a, b in list(self._pauses))

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self._thread:
            return  # another loop's (another test's, or the other API's) record
        if not (isinstance(record.msg, str) and record.msg.startswith(_SLOW_PREFIX)):
            return
        took = float(record.args[-1]) if isinstance(record.args, tuple) and record.args else 0.0
        # The step just ended on this thread (emit runs right after it): its own CPU time.
        computed = getattr(_STEP, "cpu", 0.0)
        # The process's other threads computing meanwhile (the test's own thread beside the
        # contract's loop, mongomock's workers) held the GIL the step waited for: not a block.
        others = max(0.0, getattr(_STEP, "process", 0.0) - computed)
        collected = self._paused(record.created - took - 0.01, record.created)
        queued = getattr(_STEP, "queued", 0.0)
        waited = max(0.0, took - computed - others - collected - queued)
        # Preempted only (the machine's other jobs had the cores): it never waited of itself.
        preempted = getattr(_STEP, "voluntary", None) == 0
        if computed >= CPU_STEP:
            kind = "a long computation on the event loop"
        elif not preempted and waited >= self.loop.slow_callback_duration and computed * WAITING_SHARE < waited:
            kind = "blocking call on the event loop"
        else:
            return  # computing, slowed down by a busy machine (or the garbage collector)
        stack = getattr(_STEP, "stack", None)
        where = f"\n    where it was:\n{stack}" if stack else ""
        with self._lock:
            self.slow.append(
                f"{kind}: {record.getMessage()} (waited {waited:.3f} s, computed {computed:.3f} s, "
                f"other threads computed {others:.3f} s, collected garbage {collected:.3f} s, "
                f"runnable in the run queue {queued:.3f} s){where}"
            )

    def _exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if _known_driver_noise(context):
            return
        with self._lock:
            self.errors.append(_describe(context))

    def take(self) -> list[str]:
        """What was reported since the last call, as failure lines; empties the lists."""
        with self._lock:
            found = list(self.slow)
            found += [f"asyncio reported: {line}" for line in self.errors]
            self.slow.clear()
            self.errors.clear()
        return found


#: The CPU time of the last loop step each thread ran.
_STEP = threading.local()


def _time_steps() -> None:
    """Time each loop step's CPU (asyncio's debug mode times its wall clock only).

    A step that waits (``time.sleep``, a sync driver's socket read) passes wall-clock time
    without computing; a step that checks a batch of 20,000 rows computes all along. Both
    stop the loop, but only the first is a blocking call; the second has its own limit.
    """
    if getattr(asyncio.events.Handle._run, "_dbp_timed", False):
        return
    run = asyncio.events.Handle._run

    def timed(handle: asyncio.events.Handle) -> None:
        start, process = time.thread_time(), time.process_time()
        queued, switches = _run_queue_wait(), _voluntary_switches()
        _RUNNING[threading.get_ident()] = [time.monotonic(), None]
        try:
            run(handle)
        finally:
            _STEP.cpu = time.thread_time() - start
            _STEP.process = time.process_time() - process
            _STEP.queued = _run_queue_wait() - queued
            _STEP.voluntary = None if switches is None else _voluntary_switches() - switches
            _STEP.stack = _RUNNING.pop(threading.get_ident(), [0, None])[1]

    timed._dbp_timed = True  # type: ignore[attr-defined]
    asyncio.events.Handle._run = timed  # type: ignore[method-assign]
    threading.Thread(target=_sample, daemon=True, name="dbp-loop-watch").start()


def _run_queue_wait() -> float:
    """Seconds this thread has stood runnable waiting for a core (Linux's schedstat; else 0)."""
    fd = getattr(_STEP, "schedstat", None)
    if fd is None:
        try:
            fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        except OSError:
            fd = -1
        _STEP.schedstat = fd
    if fd < 0:
        return 0.0
    try:
        return int(os.pread(fd, 64, 0).split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def _voluntary_switches() -> int | None:
    """How often this thread gave up its core by itself (it slept, or waited on I/O or a lock)."""
    try:
        return resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw
    except (AttributeError, OSError):  # no RUSAGE_THREAD here
        return None


#: Thread id -> [when its running step began, the stack sampled once it ran past SLOW_CALLBACK].
_RUNNING: dict[int, list[Any]] = {}


def _sample() -> None:
    """Where a slow step is: its thread's stack, taken while it is slow (for the failure message)."""
    while True:
        time.sleep(0.05)
        now = time.monotonic()
        frames = None
        for thread, step in list(_RUNNING.items()):
            if step[1] is None and now - step[0] > SLOW_CALLBACK * 0.6:
                frames = frames or sys._current_frames()
                frame = frames.get(thread)
                if frame is not None:
                    step[1] = "".join(traceback.format_stack(frame, limit=8))


def _known_driver_noise(context: dict[str, Any]) -> bool:
    """A driver's own unretrieved future, named here with the upstream report.

    asyncpg cancels a server-side query (our cancelled task's) over a second connection;
    with ``sslmode=prefer`` that connection's SSL probe future ends with "unexpected
    connection_lost() call" and nobody reads it (MagicStack/asyncpg#1310, fix in #1312).
    The cancel itself works: the test's own assertions check what was written.
    """
    exc = context.get("exception")
    future = context.get("future")
    created = " ".join(f"{f.filename}:{f.line}" for f in getattr(future, "_source_traceback", None) or ())
    return (
        isinstance(exc, ConnectionError)
        and str(exc) == "unexpected connection_lost() call"
        and "asyncpg" in created
        and "TLSUpgradeProto" in created
    )


def _describe(context: dict[str, Any]) -> str:
    message = context.get("message", "")
    exc = context.get("exception")
    what = context.get("task") or context.get("future") or context.get("handle") or ""
    return " ".join(str(part) for part in (message, repr(exc) if exc else "", what) if part)


@contextlib.contextmanager
def watched_loop(slow: float = SLOW_CALLBACK) -> Iterator[asyncio.AbstractEventLoop]:
    """A new event loop in debug mode for the block; raises ``AssertionError`` at exit when a
    step was slow, asyncio reported an error, or a coroutine was never awaited."""
    loop = asyncio.new_event_loop()
    watch = LoopWatch(loop, slow)
    watch.attach()
    problems: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield loop
        finally:
            try:
                _cancel_pending(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()
                # A coroutine never awaited warns when it is collected; a pending task errs then.
                gc.collect()
                watch.detach()
    problems += watch.take()
    problems += [f"{w.category.__name__}: {w.message}" for w in caught if _is_asyncio_warning(w)]
    for other in caught:
        if not _is_asyncio_warning(other):
            warnings.warn_explicit(other.message, other.category, other.filename, other.lineno)
    if problems:
        raise AssertionError("event-loop hygiene:\n  " + "\n  ".join(problems))


def _is_asyncio_warning(caught: warnings.WarningMessage) -> bool:
    text = str(caught.message)
    return caught.category is RuntimeWarning and ("was never awaited" in text or "Task was destroyed" in text)


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    # What the test left running ends with it (as asyncio.run does); left pending it would be
    # reported when collected, by a later test.
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
