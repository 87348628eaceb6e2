"""A cancelled call leaves no half-written batch and gives its connection back.

``bulk_insert`` is one transaction on the SQL engines (``features.atomic_bulk``): a
cancelled one writes nothing. Where it is not (MongoDB without transactions, FerretDB,
mongomock) each batch is one ``insert_many`` and the batches already written stay
written, as after a failure (``BulkWriteError``): what is stored is whole batches. Either
way the connection goes back to its pool and the next call on the same ``AsyncConnection``
works.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from db_plugins.aio import AsyncConnection
from tests.aio.conftest import AioEnv

BATCH = 50


def _rows(start: int, count: int) -> list[dict[str, Any]]:
    return [{"oid": f"r{i:06d}", "mag": i / 2, "n": i} for i in range(start, start + count)]


async def _cancel_after(make: Callable[[], Awaitable[Any]], delay: float | int) -> bool:
    """Run ``make()`` as a task, cancel it after ``delay`` (seconds, or an int: loop steps);
    whether it was cancelled (``False``: it finished first)."""
    task = asyncio.ensure_future(make())
    if isinstance(delay, int):
        for _ in range(delay):
            await asyncio.sleep(0)
    else:
        await asyncio.sleep(delay)
    if task.done():
        task.result()
        return False
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return True
    return False


#: Where to cancel: after 0..5 loop steps, then after growing delays (the call in flight).
DELAYS: tuple[float | int, ...] = (0, 1, 2, 3, 5, 0.001, 0.002, 0.004, 0.008, 0.015, 0.03, 0.06)


def pool_state(db: AsyncConnection) -> tuple[int, ...]:
    """Connections out of the SQL pools, beyond the read pool's idle ones (0s when none is in use)."""
    sync = db.sync
    if not hasattr(sync, "read_pool"):
        return ()
    idle = len(sync.read_pool._idle)
    out = (sync.engine.pool.checkedout(),)
    if sync.read_engine is not sync.engine:
        out += (sync.read_engine.pool.checkedout() - idle,)
    return out


async def _settled(query: Any, rows: list[dict[str, Any]]) -> int:
    """How many of ``rows`` are stored, once that stops changing: a write the server had
    received when its caller was cancelled still lands (the server does not know)."""
    where = {"oid": {"$gte": rows[0]["oid"], "$lte": rows[-1]["oid"]}}
    written = await query.count(where)
    for _ in range(20):
        await asyncio.sleep(0.1)
        again = await query.count(where)
        if again == written:
            break
        written = again
    return written


async def _still_works(db: AsyncConnection, models: Any, stored: int) -> None:
    """The connection's pool serves the next calls: reads, a write, a stream, a transaction."""
    query = db.query(models.Item)
    assert await query.count() == stored
    assert await query.find_one({"oid": "after"}) is None
    await query.insert({"oid": "after", "n": 1})
    assert (await query.find_one({"oid": "after"})).n == 1
    page = await query.paginate(per_page=5, order_by="oid")
    assert len(page) == min(5, stored + 1)
    assert await query.delete({"oid": "after"}) == 1
    assert pool_state(db) == tuple(0 for _ in pool_state(db))


async def test_cancelled_bulk_insert_of_a_list_writes_whole_batches_or_nothing(aenv: AioEnv) -> None:
    async with aenv.connect() as db:
        db.features.bulk_batch_size = BATCH
        query = db.query(aenv.models.Item)
        total = 0
        cancelled = 0
        for attempt, delay in enumerate(DELAYS):
            rows = _rows(attempt * 1000, 4 * BATCH)
            before = pool_state(db)
            cancelled += await _cancel_after(lambda rows=rows: query.bulk_insert(rows), delay)
            written = await _settled(query, rows)
            if db.features.atomic_bulk:
                assert written in (0, len(rows)), (delay, written)
            else:
                assert written % BATCH == 0, (delay, written)
                # Whole batches, in order: the first ``written`` rows.
                stored = await query.find_all(filter_by={"oid": {"$in": [r["oid"] for r in rows]}}, per_page=1000)
                assert sorted(i.oid for i in stored) == [r["oid"] for r in rows[:written]]
            total += written
            assert pool_state(db) == before, delay
        assert cancelled, "no call was in flight when cancelled"
        await _still_works(db, aenv.models, total)


async def test_cancelled_bulk_insert_from_a_slow_async_generator(aenv: AioEnv) -> None:
    async with aenv.connect() as db:
        db.features.bulk_batch_size = BATCH
        query = db.query(aenv.models.Item)
        third_batch = asyncio.Event()

        async def rows() -> AsyncIterator[dict[str, Any]]:
            for i, row in enumerate(_rows(0, 10 * BATCH)):
                if i == 2 * BATCH + 5:
                    third_batch.set()
                if i % 10 == 0:
                    await asyncio.sleep(0.001)
                yield row

        task = asyncio.ensure_future(query.bulk_insert(rows()))
        await third_batch.wait()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        else:
            raise AssertionError("bulk_insert finished before it was cancelled")
        written = await _settled(query, _rows(0, 10 * BATCH))
        # Two batches had gone to the driver when the generator was interrupted in the third.
        assert written == (0 if db.features.atomic_bulk else 2 * BATCH)
        await _still_works(db, aenv.models, written)


async def test_cancelled_paginate_returns_its_connection(aenv: AioEnv) -> None:
    async with aenv.connect() as db:
        query = db.query(aenv.models.Item)
        await query.bulk_insert(_rows(0, 1500))
        before = pool_state(db)
        cancelled = 0
        for delay in DELAYS:
            cancelled += await _cancel_after(
                lambda: query.paginate(per_page=500, order_by="-mag", filter_by={"n": {"$gte": 10}}), delay
            )
            assert pool_state(db) == before, delay
            page = await query.paginate(per_page=7, order_by="oid")
            assert [i.oid for i in page] == [f"r{i:06d}" for i in range(7)]
        assert cancelled
        await _still_works(db, aenv.models, 1500)
