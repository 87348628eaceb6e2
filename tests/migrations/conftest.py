"""Fixtures: a fresh project (settings, models, empty database) per test, per engine and per runner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.migrations import models
from tests.migrations.project import RUNNERS, Project
from tests.servers import SQL_ENGINES, fresh_database


@pytest.fixture(params=SQL_ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=RUNNERS)
def runner(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def project(engine: str, runner: str, tmp_path: Path) -> Iterator[Project]:
    """A project on a new empty database of ``engine``, with the V1 models and no migrations yet."""
    with fresh_database(engine, tmp_path) as url:
        root = tmp_path / "project"
        root.mkdir()
        project = Project(root, engine, url, runner)
        project.write_settings()
        project.write_models(models.SQL_V1 if project.is_sql else models.MONGO_V1)
        yield project


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """mongomock lives inside one process: running dbp in another would see an empty database."""
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        (drop if params.get("engine") == "mongomock" and params.get("runner") == "process" else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
