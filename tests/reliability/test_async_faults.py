"""Faults on the asyncio API: the same errors and recovery as the sync API's, over the async drivers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

import db_plugins
from tests.reliability.test_faults import (
    FAULTS,
    assert_connection_error,
    black_hole,
    item_model,
    kill_own_sessions,
    never_answering,
    section,
)
from tests.servers import fresh_database

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("private-servers")]


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_idle_pooled_connection_killed_meanwhile_is_replaced(tmp_path: Path, engine: str) -> None:
    """As on the sync API: an idle connection the server cut is pinged and replaced; a cut in
    steady use fails that one call with ConnectionError and the next call works."""

    async def main(url: str) -> None:
        async with await db_plugins.connect_async(section(url)) as db:
            await db.create_db()
            q = db.query(item_model(db.sync))
            await q.insert({"oid": "a", "n": 1})
            assert await asyncio.to_thread(kill_own_sessions, url) >= 1
            await asyncio.sleep(db.features.idle_ping_seconds + 0.3)
            assert await q.count() == 1
            assert await asyncio.to_thread(kill_own_sessions, url) >= 1
            with pytest.raises(db_plugins.ConnectionError) as info:
                await asyncio.wait_for(q.count(), 30)
            assert_connection_error(info.value)
            assert await q.count() == 1

    with fresh_database(engine, tmp_path) as url:
        asyncio.run(main(url))


@pytest.mark.parametrize("engine", ["postgresql", "mysql", "mongodb"])
def test_server_that_never_answers_fails_within_the_connect_timeout(engine: str) -> None:
    with black_hole() as port:
        config = never_answering(engine, port)
        FAULTS.append(f"{engine} (asyncio): server that never answers")
        started = time.monotonic()
        with pytest.raises(db_plugins.ConnectionError) as info:
            asyncio.run(asyncio.wait_for(db_plugins.connect_async(config), 30))
        elapsed = time.monotonic() - started
    assert_connection_error(info.value, f"127.0.0.1:{port}")
    assert elapsed < 10, f"the 2 s connect timeout took {elapsed:.1f} s"
