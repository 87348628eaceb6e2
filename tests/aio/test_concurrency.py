"""200 coroutines on one connection's pool, mixed calls on a few hot keys: nothing lost or doubled."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.aio.conftest import AioEnv

WORKERS = 200
HOT = 5


async def test_two_hundred_coroutines_on_hot_keys(aenv: AioEnv) -> None:
    models = aenv.models
    # 200 callers queue for the pool's 15 connections: on a loaded 2-core machine the last of
    # them may wait longer than the default 30 s (a wait, not a lost or doubled row).
    options = {"pool_timeout": 300} if aenv.is_sql and aenv.engine != "sqlite" else {}
    async with aenv.connect(**options) as db:
        naturals, items, events = db.query(models.Natural), db.query(models.Item), db.query(models.Event)
        event_key = events.primary_key[0]
        start = asyncio.Event()

        async def worker(i: int) -> bool:
            key, oid = f"hot{i % HOT}", f"c{i:03d}"
            await start.wait()
            natural, created = await naturals.get_or_create({"key": key}, value=float(i))
            assert natural.key == key
            item = await items.insert({"oid": oid, "n": 0, "name": key})
            kind = i % 4
            if kind == 0:
                assert await items.update_many({"oid": oid}, {"n": i}) == 1
                assert (await items.find_one({"oid": oid})).n == i
            elif kind == 1:
                await items.update(item, {"n": i})
                assert 1 <= await naturals.count() <= HOT
            elif kind == 2:
                await events.insert({"oid": key, "value": float(i)})
                page = await items.paginate(per_page=10, filter_by={"name": key}, order_by="-oid")
                assert page.total >= 1 and all(x.name == key for x in page)
            else:
                event = await events.insert({"oid": key, "value": float(i)})
                assert await events.check_exists({"oid": key})
                assert await events.delete({event_key: getattr(event, event_key)}) == 1
            return created

        tasks = []
        for i in range(WORKERS):
            tasks.append(asyncio.ensure_future(worker(i)))
            if i % 20 == 0:
                await asyncio.sleep(0)  # (debug mode makes task creation slow: in slices)
        start.set()
        created = await asyncio.gather(*tasks)

        # get_or_create on 5 hot keys from 200 coroutines: exactly 5 rows, each created once.
        assert sum(created) == HOT
        stored = await naturals.find_all(per_page=100)
        assert sorted(n.key for n in stored) == [f"hot{k}" for k in range(HOT)]
        # Every insert present once, with its own last update.
        rows = [item async for item in items.find_all(paginate=False, order_by="oid")]
        assert [(r.oid, r.n) for r in rows] == [(f"c{i:03d}", i if i % 4 < 2 else 0) for i in range(WORKERS)]
        # Every event present once, less the deleted ones.
        values = Counter(e.value for e in await events.find_all(per_page=WORKERS))
        assert values == Counter(float(i) for i in range(WORKERS) if i % 4 == 2)
        for k in range(HOT):
            assert await events.count({"oid": f"hot{k}"}) == sum(1 for i in range(k, WORKERS, HOT) if i % 4 == 2)
