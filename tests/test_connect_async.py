"""``connect_async``: what ``connect`` accepts, the engine's asyncio driver chosen or named, the same errors."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import db_plugins
from db_plugins.aio import AsyncConnection
from tests.servers import ENGINES, SQL_ENGINES, fresh_database

MODELS = {"sqlite": "tests.contract.models_sql:Base", "mongodb": "tests.contract.models_mongo"}


@pytest.fixture(params=ENGINES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


def _run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def _item(url: str) -> Any:
    from tests.contract import models_mongo, models_sql

    return (models_mongo if url.startswith(("mongodb", "mongomock")) else models_sql).Item


def _models(url: str) -> str:
    return MODELS["mongodb" if url.startswith(("mongodb", "mongomock")) else "sqlite"]


def test_a_sync_url_gets_the_engines_asyncio_driver(url: str) -> None:
    async def main() -> tuple[Any, Any]:
        async with await db_plugins.connect_async({"URL": url, "MODELS": _models(url)}) as db:
            assert isinstance(db, AsyncConnection)
            await db.create_db()
            found = await db.query(_item(url)).count()
            if url.startswith(("mongodb", "mongomock")):
                client = db.sync.async_client
                return found, None if client is None else type(client).__name__
            return found, (db.sync.engine.dialect.driver, db.features.async_driver, db.sync.engine.dialect.is_async)

    found, driver = _run(main())
    assert found == 0
    if url.startswith("mongodb"):
        assert driver == "AsyncMongoClient"
    elif url.startswith("mongomock"):
        assert driver is None  # the embedded engine runs its sync calls in worker threads
    else:
        used, chosen, is_async = driver
        assert used == chosen and is_async


@pytest.mark.parametrize("engine", SQL_ENGINES)
def test_an_async_driver_named_in_the_url_is_used(engine: str, tmp_path: Path) -> None:
    with fresh_database(engine, tmp_path) as sync_url:
        url = sa.make_url(sync_url)

        async def main(driver: str) -> str:
            named = url.set(drivername=f"{url.get_backend_name()}+{driver}").render_as_string(hide_password=False)
            async with await db_plugins.connect_async(named) as db:
                await db.create_db()
                return db.sync.engine.dialect.driver

        with db_plugins.connect(sync_url) as db:
            default = db.features.async_driver
        assert _run(main(default)) == default


def test_a_url_whose_engine_has_no_asyncio_driver_is_a_config_error(tmp_path: Path) -> None:
    pytest.importorskip("duckdb_engine")
    with pytest.raises(db_plugins.ConfigError, match=r"^connect_async: no asyncio driver for 'duckdb' URLs"):
        _run(db_plugins.connect_async(f"duckdb:///{tmp_path / 'x.duckdb'}"))


def test_bad_settings_are_the_sync_apis_config_errors() -> None:
    bad_options = {"URL": "sqlite://", "ENGINE_OPTIONS": {"pool_size": "x"}}
    for bad in ({"MODELS": "x"}, 42, "nosuchscheme://host/db", bad_options):
        with pytest.raises(db_plugins.ConfigError) as sync_error:
            db_plugins.connect(bad)
        with pytest.raises(db_plugins.ConfigError) as async_error:
            _run(db_plugins.connect_async(bad))
        # The same message, up to the name of the driver's classes SQLAlchemy quotes.
        assert str(async_error.value).replace("aiosqlite", "pysqlite") == str(sync_error.value)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("scheme", ["postgresql", "mysql+pymysql", "mongodb"])
def test_an_unreachable_server_is_a_connection_error_with_the_password_masked(scheme: str) -> None:
    url = f"{scheme}://app:pw-s3cret-x@127.0.0.1:{_closed_port()}/app"
    config: dict[str, Any] = {"URL": url}
    if scheme == "mongodb":
        config["SERVER_SELECTION_TIMEOUT_MS"] = 500
    with pytest.raises(db_plugins.ConnectionError) as info:
        _run(db_plugins.connect_async(config))
    message = str(info.value)
    assert "pw-s3cret-x" not in message and "***" in message and "\n" not in message
