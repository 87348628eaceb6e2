"""The contract suite runs every test on every engine: same data, same call, same result."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import db_plugins
from tests.servers import (
    ENGINES,
    OPTIONAL_SQL_ENGINES,
    SESSION_TZ,
    SQL_ENGINES,
    fresh_database,
    on_replica,
    optional_engines,
    session_time_zone_options,
)


@dataclass
class Env:
    """One engine's connection and its contract models."""

    engine: str
    url: str
    db: Any
    models: Any
    #: Which API ``db`` is: "sync", or "async" (the asyncio API behind a sync facade).
    api: str = "sync"
    #: The database's URL on a read replica (``REPLICAS``), on the ``postgresql-replica`` run.
    replica: str | None = None

    @property
    def is_sql(self) -> bool:
        return self.engine in SQL_ENGINES + OPTIONAL_SQL_ENGINES

    @property
    def config(self) -> dict[str, Any]:
        module = "tests.contract.models_sql:Base" if self.is_sql else "tests.contract.models_mongo"
        config: dict[str, Any] = {"URL": self.url, "MODELS": module}
        if self.replica:
            config["REPLICAS"] = [self.replica]
        options = session_time_zone_options(self.engine, SESSION_TZ) if SESSION_TZ else {}
        if options:
            config["ENGINE_OPTIONS"] = options
        return config

    def model(self, name: str) -> Any:
        return getattr(self.models, name)

    def q(self, name: str) -> Any:
        return self.db.query(self.model(name))

    def reconnect(self) -> Any:
        """A second, independent connection to the same database."""
        return db_plugins.connect(self.config)

    def key(self, name: str) -> str:
        return self.q(name).primary_key[0]


def _models(engine: str) -> Any:
    if engine in SQL_ENGINES + OPTIONAL_SQL_ENGINES:
        from tests.contract import models_sql

        return models_sql
    from tests.contract import models_mongo

    return models_mongo


@pytest.fixture(scope="session")
def event_loop_thread() -> Iterator[Any]:
    """The event loop the asyncio API's contract runs on (debug mode: a slow step fails the test)."""
    from tests.contract.aio_facade import Loop

    loop = Loop()
    yield loop
    loop.close()


#: The whole suite once more on PostgreSQL with its hot standby as a read replica.
REPLICA_RUN = "postgresql-replica"
#: The asyncio API's runs: ``async-<engine>`` for every engine with an asyncio driver.
ASYNC_RUN = "async-"


#: More asyncio runs naming a driver (``DBP_TEST_ASYNC_DRIVERS=mysql+asyncmy``, comma-separated):
#: ``async-mysql+asyncmy`` runs the suite through that driver instead of the engine's default.
ASYNC_DRIVERS = [d.strip() for d in os.environ.get("DBP_TEST_ASYNC_DRIVERS", "").split(",") if d.strip()]


def _runs() -> list[str]:
    sync = [*ENGINES, REPLICA_RUN, *optional_engines()]
    return sync + [ASYNC_RUN + engine for engine in [*ENGINES, *ASYNC_DRIVERS]]


@pytest.fixture(scope="session", params=_runs())
def engine_env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """One run of the contract: an engine, on the sync API or (``async-<engine>``) the asyncio one
    behind a sync facade, or PostgreSQL with its standby as a read replica."""
    run = request.param
    api = "async" if run.startswith(ASYNC_RUN) else "sync"
    engine, _, driver = run.removeprefix(ASYNC_RUN).partition("+")
    engine = "postgresql" if engine == REPLICA_RUN else engine
    with fresh_database(engine, tmp_path_factory.mktemp(engine)) as url:
        env = Env(engine, url, None, _models(engine), api)
        if run == REPLICA_RUN:
            import sqlalchemy as sa

            # Read-your-writes for the oracle: each commit on this database returns once the
            # standby has applied it (the standby is in synchronous_standby_names; sessions
            # elsewhere keep synchronous_commit = off and never wait for it).
            admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(
                    f'ALTER DATABASE "{sa.make_url(url).database}" SET synchronous_commit = remote_apply'
                )
            admin.dispose()
            env.replica = on_replica(url)
        if api == "async":
            from tests.contract.aio_facade import SyncFacade

            env.db = SyncFacade.connect(env.config, request.getfixturevalue("event_loop_thread"), driver or None)
        else:
            env.db = db_plugins.connect(env.config)
        env.db.create_db()
        if api == "async":
            # Opening imports the driver and its adapter: a one-off step of start-up, not a call's.
            request.getfixturevalue("event_loop_thread").watch.take()
        try:
            yield env
        finally:
            env.db.close()


@pytest.fixture
def env(engine_env: Env, request: pytest.FixtureRequest) -> Iterator[Env]:
    """The engine's connection, with every contract table emptied before the test."""
    for name in ("Item", "Event", "Price", "Numbered", "Natural", "TwoKeys"):
        engine_env.q(name).delete(all=True)
    loop = request.getfixturevalue("event_loop_thread") if engine_env.api == "async" else None
    yield engine_env
    if loop is not None:
        # A blocking call on the loop (or an error only asyncio saw) fails the test that made it.
        problems = loop.watch.take()
        if problems:
            pytest.fail("event-loop hygiene:\n  " + "\n  ".join(problems), pytrace=False)
