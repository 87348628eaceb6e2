"""db_plugins.db.base.bridge: sync code run in greenlets kept from one spawn() to the next."""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from typing import Any

import pytest
from greenlet import getcurrent

from db_plugins.db.base import bridge
from db_plugins.db.base.bridge import in_greenlet, spawn, wait

REQUEST = contextvars.ContextVar("REQUEST", default=None)


async def test_a_greenlet_runs_one_call_after_another() -> None:
    first = await spawn(getcurrent)
    assert await spawn(getcurrent) is first  # resumed, not started anew (~10 us)
    assert not first.dead and first is not getcurrent()
    assert await spawn(in_greenlet) and not in_greenlet()


async def test_sync_code_sees_its_tasks_context_and_waits_on_the_loop() -> None:
    def handler(delay: float) -> Any:
        wait(asyncio.sleep(delay))  # other tasks run meanwhile
        return REQUEST.get()

    async def request(name: str, delay: float) -> Any:
        REQUEST.set(name)
        return await spawn(handler, delay)

    names = [f"r{i}" for i in range(100)]
    found = await asyncio.gather(*(request(name, 0.001 * (i % 7)) for i, name in enumerate(names)))
    assert found == names
    assert await spawn(REQUEST.get) is None
    assert len(bridge._local.idle) <= bridge.IDLE_WORKERS


async def test_errors_and_cancellation_reach_the_sync_code_and_come_back() -> None:
    class Refused(Exception):
        pass

    def fails() -> None:
        wait(asyncio.sleep(0))
        raise Refused("no")

    with pytest.raises(Refused, match="no"):
        await spawn(fails)

    seen: list[str] = []

    def slow() -> None:
        try:
            wait(asyncio.sleep(10))
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        finally:
            seen.append("cleaned up")

    task = asyncio.ensure_future(spawn(slow))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["cancelled", "cleaned up"]
    assert await spawn(lambda: 42) == 42  # the same greenlets go on serving


async def test_an_idle_greenlet_keeps_nothing_alive() -> None:
    class Value:
        pass

    def echo(value: Value) -> Value:
        return value

    value = Value()
    gone = weakref.ref(value)
    assert await spawn(echo, value) is value
    del value
    assert gone() is None

    def raises(value: Value) -> None:
        raise ValueError(value)

    value = Value()
    gone = weakref.ref(value)
    with pytest.raises(ValueError):
        await spawn(raises, value)
    del value
    assert gone() is None
