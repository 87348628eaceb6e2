"""The asyncio API beside the sync one: shared cursors, async row sources, streams, transactions,
and bad input refused from the coroutine before anything is sent."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from db_plugins import FilterError, UnsupportedOperation, ValidationError
from tests.aio.conftest import AioEnv
from tests.aio.test_cancellation import pool_state

ROWS = [{"oid": f"o{i:03d}", "mag": float(i % 7), "n": i} for i in range(25)]
#: ROWS as ``order_by="-mag"`` lists them (the key breaks ties, ascending).
BY_MAG = [r["oid"] for r in sorted(ROWS, key=lambda r: (-r["mag"], r["oid"]))]


async def test_a_cursor_crosses_between_the_apis(aenv: AioEnv) -> None:
    sync = aenv.sync.query(aenv.models.Item)
    await asyncio.to_thread(sync.bulk_insert, ROWS)
    async with aenv.connect() as db:
        query = db.query(aenv.models.Item)
        first = await asyncio.to_thread(sync.paginate, per_page=10, order_by="-mag", count=False)
        second = await query.paginate(per_page=10, order_by="-mag", count=False, after=first.next_cursor)
        assert [i.oid for i in second] == BY_MAG[10:20]
        third = await asyncio.to_thread(sync.paginate, per_page=10, order_by="-mag", after=second.next_cursor)
        assert [i.oid for i in third] == BY_MAG[20:]
        assert third.next_cursor is None
        # And back from the sync page, by the async API's prev().
        back = await query.paginate(per_page=10, order_by="-mag", after=third.prev_cursor)
        assert [i.oid for i in back] == BY_MAG[10:20]
        previous = await back.prev()
        assert [i.oid for i in previous] == BY_MAG[:10]
        assert [i.oid for i in await previous.next()] == BY_MAG[10:20]


async def test_bulk_insert_reads_an_async_generator_past_one_batch(aenv: AioEnv) -> None:
    async with aenv.connect() as db:
        db.features.bulk_batch_size = 40
        query = db.query(aenv.models.Item)
        read = 0

        async def rows() -> AsyncIterator[dict[str, Any]]:
            nonlocal read
            for i in range(130):
                if i % 25 == 0:
                    await asyncio.sleep(0.001)  # the loop runs between the rows
                read += 1
                yield {"oid": f"g{i:03d}", "n": i}

        assert await query.bulk_insert(rows()) == 130
        assert read == 130
        stored = [(i.oid, i.n) async for i in query.find_all(paginate=False, order_by="oid")]
        assert stored == [(f"g{i:03d}", i) for i in range(130)]


# A driver's warning fails a stream test too: aiomysql's "Previous unbuffered result was left
# incomplete" says a stream's cursor was not closed before its connection was used again.
driver_warnings_fail = pytest.mark.filterwarnings("error::UserWarning")


@driver_warnings_fail
async def test_a_stream_closed_early_gives_its_connection_back(aenv: AioEnv) -> None:
    await asyncio.to_thread(aenv.sync.query(aenv.models.Item).bulk_insert, [{"oid": f"s{i:04d}"} for i in range(600)])
    async with aenv.connect() as db:
        query = db.query(aenv.models.Item)
        idle = pool_state(db)
        stream = query.find_all(paginate=False, order_by="oid", batch_size=50)
        seen = []
        async for item in stream:
            seen.append(item.oid)
            if len(seen) == 120:
                break
        assert seen == [f"s{i:04d}" for i in range(120)]
        await stream.aclose()
        assert pool_state(db) == idle
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()
        # The connection serves the next calls, a whole stream among them.
        assert await query.count() == 600
        assert len([item async for item in query.find_all(paginate=False, batch_size=50)]) == 600
        assert pool_state(db) == idle


@driver_warnings_fail
async def test_a_stream_left_early_and_dropped_is_closed_by_the_loop(aenv: AioEnv) -> None:
    """Without ``aclose()``: the loop closes the dropped stream's cursor (no error at collection)."""
    await asyncio.to_thread(aenv.sync.query(aenv.models.Item).bulk_insert, [{"oid": f"s{i:04d}"} for i in range(300)])
    async with aenv.connect() as db:
        query = db.query(aenv.models.Item)
        idle = pool_state(db)
        unraisable: list[Any] = []
        hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
        try:
            async for _ in query.find_all(paginate=False, batch_size=50):
                break
            gc.collect()
            # The loop's finalizer closes it in a task of its own (aiomysql first reads the rest
            # of the unbuffered result).
            for _ in range(250):
                await asyncio.sleep(0.02)
                if pool_state(db) == idle:
                    break
        finally:
            sys.unraisablehook = hook
        assert [f"{u.exc_type.__name__}: {u.exc_value}" for u in unraisable] == []
        assert pool_state(db) == idle
        assert await query.count() == 300


async def test_transactions_roll_back_and_belong_to_their_task(aenv: AioEnv) -> None:
    async with aenv.connect() as db:
        query = db.query(aenv.models.Item)
        if not db.features.transactions:
            with pytest.raises(UnsupportedOperation):
                async with db.transaction():
                    await query.insert({"oid": "never"})
            assert await query.count() == 0
            return
        written, checked, read = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def writes(oid: str, fails: bool) -> None:
            async with db.transaction():
                assert db.in_transaction
                await query.insert({"oid": oid})
                if fails:
                    written.set()
                    await checked.wait()
                else:
                    await asyncio.sleep(0.01)  # the other task runs meanwhile
                # Its own write, not the other open transaction's.
                assert [i.oid for i in await query.find_all()] == [oid]
                if fails:
                    read.set()
                    raise RuntimeError("undo")
                await read.wait()  # commits once the other has looked

        async def looks() -> None:
            await written.wait()
            # Outside any transaction while another task is in one: it is not ours, nor are its writes seen.
            assert not db.in_transaction
            assert await query.find_one({"oid": "a"}) is None
            checked.set()

        async def rolls_back() -> None:
            with pytest.raises(RuntimeError, match="undo"):
                await writes("a", fails=True)

        # (SQLite's writers take turns: BEGIN IMMEDIATE waits in the driver's thread, off the loop.)
        await asyncio.gather(rolls_back(), writes("b", fails=False), looks())
        assert not db.in_transaction
        assert [i.oid for i in await query.find_all()] == ["b"]


async def test_bad_input_raises_from_the_coroutine_before_anything_is_sent(aenv: AioEnv) -> None:
    async with aenv.connect() as db:
        db.features.bulk_batch_size = 10
        query = db.query(aenv.models.Item)
        call = query.insert({"oid": "x", "nope": 1})  # nothing runs before it is awaited
        with pytest.raises(ValidationError, match="nope"):
            await call
        with pytest.raises(FilterError, match=r"\$regexp"):
            await query.find_one({"mag": {"$regexp": "x"}})
        with pytest.raises(FilterError, match="nope"):
            await query.paginate(filter_by={"nope": 1})
        with pytest.raises(FilterError):
            await query.count({"mag": {"$gt": "a string"}})

        async def rows() -> AsyncIterator[dict[str, Any]]:
            for i in range(15):
                yield {"oid": f"b{i}", "n": "fifteen" if i == 14 else i}

        with pytest.raises(ValidationError, match="'n'"):
            await query.bulk_insert(rows())
        # The bad row's batch was checked before any of it was sent; earlier batches stay
        # written only where bulk_insert is not atomic.
        assert await query.count() == (0 if db.features.atomic_bulk else 10)
        assert await query.find_one({"oid": "x"}) is None
