"""The asyncio API's own tests: every ``async def`` test runs on a new event loop in debug mode.

Each test runs under :func:`tests.aio.hygiene.watched_loop`: a step of the loop slower than
``SLOW_CALLBACK`` (a blocking call), a task destroyed while pending or a coroutine never
awaited fails it. The ``aenv`` fixture gives the engine's database (one per engine and
session, with the contract models, emptied before each test); the test opens its own
:func:`db_plugins.connect_async` connection on its loop (an asyncio connection belongs to
the loop it was opened on).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

import db_plugins
from db_plugins.aio import AsyncConnection
from tests.aio.hygiene import watched_loop
from tests.servers import ENGINES, SQL_ENGINES, fresh_database

#: Most seconds one test's coroutine may run (a hang fails the test, not the session).
TEST_TIMEOUT = 120.0

TABLES = ("Item", "Event", "Natural")


@dataclass
class AioEnv:
    """One engine's database and its contract models, for tests on the asyncio API."""

    engine: str
    url: str
    models: Any
    #: A sync connection to the same database (checks from outside the loop, set-up).
    sync: Any

    @property
    def is_sql(self) -> bool:
        return self.engine in SQL_ENGINES

    @property
    def config(self) -> dict[str, Any]:
        module = "tests.contract.models_sql:Base" if self.is_sql else "tests.contract.models_mongo"
        return {"URL": self.url, "MODELS": module}

    @asynccontextmanager
    async def connect(self, **options: Any) -> AsyncIterator[AsyncConnection]:
        """An asyncio connection on the running loop (``options``: its ``ENGINE_OPTIONS``)."""
        config = self.config
        if options:
            config["ENGINE_OPTIONS"] = options
        async with await db_plugins.connect_async(config) as db:
            yield db


@pytest.fixture(scope="session", params=ENGINES)
def aio_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AioEnv]:
    engine = request.param
    with fresh_database(engine, tmp_path_factory.mktemp(engine)) as url:
        if engine in SQL_ENGINES:
            from tests.contract import models_sql as models
        else:
            from tests.contract import models_mongo as models  # type: ignore[no-redef]
        env = AioEnv(engine, url, models, None)
        env.sync = db_plugins.connect(env.config)
        try:
            env.sync.create_db()
            asyncio.run(_warm_up(env))
            yield env
        finally:
            env.sync.close()


async def _warm_up(env: AioEnv) -> None:
    # The first asyncio connection imports its driver and SQLAlchemy's adapter: a one-off
    # blocking step of an application's start-up, not of the calls the tests watch.
    async with env.connect():
        pass


@pytest.fixture
def aenv(aio_database: AioEnv) -> AioEnv:
    """The engine's database with the contract tables emptied."""
    for name in TABLES:
        aio_database.sync.query(getattr(aio_database.models, name)).delete(all=True)
    return aio_database


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run an ``async def`` test to completion on a watched loop of its own."""
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}

    async def main() -> None:
        async with asyncio.timeout(TEST_TIMEOUT):
            await function(**kwargs)

    with watched_loop() as loop:
        loop.run_until_complete(main())
    return True
