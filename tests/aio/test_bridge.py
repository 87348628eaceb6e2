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


async def test_task_locals_stay_with_their_task_however_tasks_take_turns() -> None:
    local = bridge.TaskLocal()
    seen: dict[str, list[Any]] = {}

    async def task(name: str) -> None:
        assert getattr(local, "value", None) is None  # nothing from the task before it
        for i in range(3):
            local.value = (name, i)
            await asyncio.sleep(0)  # the other task runs, reads and writes its own
            seen.setdefault(name, []).append(local.value)

    await asyncio.gather(task("a"), task("b"))
    assert seen == {"a": [("a", 0), ("a", 1), ("a", 2)], "b": [("b", 0), ("b", 1), ("b", 2)]}
    for name in "cde":  # a finished task's successor (which may reuse its memory) starts empty
        await asyncio.create_task(task(name))
    assert getattr(local, "value", None) is None  # this task set nothing
