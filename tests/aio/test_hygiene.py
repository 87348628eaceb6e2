"""The loop watch catches what it is there for: these tests break the rules on purpose."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import time
import warnings

import pytest

from tests.aio import hygiene
from tests.aio.conftest import AioEnv
from tests.aio.hygiene import SLOW_CALLBACK, watched_loop
from tests.servers import base_url


def _run(coroutine_function: object) -> None:
    with watched_loop() as loop:
        loop.run_until_complete(coroutine_function())  # type: ignore[operator]


def test_a_blocking_sleep_on_the_loop_fails() -> None:
    async def blocks() -> None:
        time.sleep(SLOW_CALLBACK * 1.5)

    with pytest.raises(AssertionError, match="blocking call on the event loop: Executing <Task"):
        _run(blocks)


def test_a_sync_driver_call_on_the_loop_fails() -> None:
    """A sync driver (psycopg2) waiting on the server inside a coroutine is caught."""
    import sqlalchemy as sa

    engine = sa.create_engine(base_url("postgresql"))

    async def blocks() -> None:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_sleep({SLOW_CALLBACK * 1.5})")

    try:
        with pytest.raises(AssertionError, match="blocking call on the event loop"):
            _run(blocks)
    finally:
        engine.dispose()


def _compute(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_computing_is_not_waiting_up_to_its_own_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    async def computes() -> None:
        _compute(SLOW_CALLBACK * 1.2)

    _run(computes)  # longer than SLOW_CALLBACK, but computing: no blocking call
    monkeypatch.setattr(hygiene, "CPU_STEP", SLOW_CALLBACK)
    with pytest.raises(AssertionError, match="a long computation on the event loop"):
        _run(computes)


STARVED = """
import asyncio, os, subprocess, sys, time
from tests.aio.test_hygiene import _compute, _run
os.sched_setaffinity(0, {0})
hog = subprocess.Popen([sys.executable, "-c", "while 1: pass"])  # on the same core
os.setpriority(os.PRIO_PROCESS, 0, 19)  # a weight of 15 against the hog's 1024: ~1.5% of the core
try:
    time.sleep(0.2)
    async def starved() -> None:
        start = time.monotonic()
        _compute(0.015)
        print(f"wall {time.monotonic() - start:.3f}")
    _run(starved)
finally:
    hog.kill()
"""


@pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or not os.path.exists("/proc/thread-self/schedstat"),
    reason="needs Linux's CPU affinity and schedstat",
)
def test_a_step_starved_of_the_cpu_is_no_blocking_call() -> None:
    """A step that computes a little but waits long for a core (a loaded machine) passes: the
    time it stood runnable in the run queue is not a wait of its own."""
    result = subprocess.run([sys.executable, "-c", STARVED], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    wall = float(result.stdout.split()[-1])
    assert wall > SLOW_CALLBACK, f"the step was not starved ({wall} s): the test proves nothing"


def test_a_coroutine_never_awaited_fails() -> None:
    async def forgotten() -> None:
        pass

    async def forgets() -> None:
        forgotten()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pytest.PytestUnraisableExceptionWarning)
        with pytest.raises(AssertionError, match=r"coroutine '.*forgotten' was never awaited"):
            _run(forgets)


def test_an_exception_nobody_retrieved_fails() -> None:
    async def fails() -> None:
        raise ValueError("lost")

    async def drops() -> None:
        task = asyncio.ensure_future(fails())
        await asyncio.sleep(0.01)
        del task
        gc.collect()

    with pytest.raises(AssertionError, match="Task exception was never retrieved ValueError"):
        _run(drops)


def test_calm_work_passes() -> None:
    async def awaits() -> None:
        await asyncio.sleep(SLOW_CALLBACK * 1.5)
        await asyncio.to_thread(time.sleep, SLOW_CALLBACK * 1.5)

    _run(awaits)


async def test_an_unawaited_query_call_warns(aenv: AioEnv) -> None:
    """``db.query(M).find_one(...)`` without ``await`` sends nothing and says so when collected."""
    async with aenv.connect() as db:
        query = db.query(aenv.models.Item)
        await query.insert({"oid": "a", "n": 1})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            query.find_one({"oid": "a"})
            query.update_many({"oid": "a"}, {"n": 2})
            query.find_all({"oid": "a"})
            gc.collect()
        # (debug mode adds where each was created, on the lines after)
        messages = sorted(str(w.message).splitlines()[0] for w in caught if w.category is RuntimeWarning)
        assert messages == [
            "coroutine 'AsyncQuery.find_one' was never awaited",
            "coroutine 'AsyncQuery.paginate' was never awaited",
            "coroutine 'AsyncQuery.update_many' was never awaited",
        ]
        assert (await query.find_one({"oid": "a"})).n == 1
