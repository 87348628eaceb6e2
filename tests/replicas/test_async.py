"""The asyncio API with ``REPLICAS``: the same routing as the sync API, pins per task."""

from __future__ import annotations

import asyncio
from typing import Any

import db_plugins
from tests.replicas.conftest import MODELS
from tests.replicas.models import Note


def test_async_reads_go_to_the_standby_and_pins_are_per_task(pair: tuple[str, str]) -> None:
    url, replica = pair

    async def main() -> None:
        async with await db_plugins.connect_async({"URL": url, "REPLICAS": [replica], "MODELS": MODELS}) as db:
            await db.create_db()
            q = db.query(Note)
            await q.insert({"id": 1, "text": "one"})
            [status] = await db.replica_status()
            assert status["up"] is True and status["standby"] is True

            async def on_standby() -> Any:
                found = await q.find_one({"id": 1})
                return None if found is None else found.on_standby

            for _ in range(600):  # until the standby has replayed the table and the insert
                try:
                    if await on_standby() is not None:
                        break
                except db_plugins.DatabaseError:
                    pass
                await asyncio.sleep(0.05)
            assert await on_standby() is True
            assert [n.on_standby async for n in q.find_all(paginate=False)] == [True]

            pinned = asyncio.Event()
            release = asyncio.Event()

            async def pinning() -> bool:
                with db.primary():
                    pinned.set()
                    await release.wait()
                    return await on_standby()

            async def unpinned() -> bool:
                await pinned.wait()
                try:
                    return await on_standby()  # another task, while the first is pinned
                finally:
                    release.set()

            assert await asyncio.gather(pinning(), unpinned()) == [False, True]

    asyncio.run(main())
