"""Fixtures for the dump/load tests: one private database per engine, emptied before each use."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import db_plugins
from db_plugins.config import Settings, settings_from_dict
from db_plugins.transfer import ModelTable
from tests.servers import SQL_ENGINES, fresh_database

REPO = Path(__file__).resolve().parents[2]
NAMES = [
    "plain",
    "",
    None,
    "\\N",
    "\\\\N",
    'comma, "quote"\nand a new line',
    "ünïcödé ✓ 𝄞",
    "  spaces  ",
    "tab\there",
    "[1, 2]",
    "true",
]


def dataset(n: int = 23) -> list[dict[str, Any]]:
    """Rows of ``Reading`` with the values files get wrong: NULL vs empty, escapes, floats, unicode."""
    mags = [0.1, None, -2.5e-300, 1e300, 3.0, 1 / 3, -0.0]
    rows = []
    for i in range(n):
        rows.append(
            {
                "id": i + 1,
                "name": NAMES[i % len(NAMES)],
                "mag": mags[i % len(mags)],
                "n": None if i % 5 == 4 else (i - 10) * 1000,
                "flag": [True, False, None][i % 3],
                "at": None if i % 4 == 3 else dt.datetime(2024, 5, 1, 12, 30, 15) + dt.timedelta(hours=i * 7),
                "day": None if i % 6 == 5 else dt.date(2023, 12, 31) + dt.timedelta(days=i * 40),
            }
        )
    return rows


@dataclass
class Side:
    """One engine's database, its settings (one section) and an open connection."""

    engine: str
    url: str
    settings: Settings
    db: Any

    @property
    def section(self) -> str:
        return "SQL" if self.engine in SQL_ENGINES else "MONGO"

    @property
    def models(self) -> Any:
        if self.section == "SQL":
            from tests.transfer import models_sql

            return models_sql
        from tests.transfer import models_mongo

        return models_mongo

    @property
    def db_config(self) -> dict[str, Any]:
        models = "tests.transfer.models_sql:Base" if self.section == "SQL" else "tests.transfer.models_mongo"
        return {self.section: {"URL": self.url, "MODELS": models}}

    def q(self, model: str = "Reading") -> Any:
        return self.db.query(getattr(self.models, model))

    def rows(self, model: str = "Reading") -> list[dict[str, Any]]:
        """Every stored row as a dict of field values, in key order."""
        return list(ModelTable(self.q(model)).rows(None, None, 100))

    def clear(self) -> None:
        names = ["Reading", "Typed", "Station"] if self.section == "SQL" else ["Reading", "Note", "Station"]
        for name in names:
            self.q(name).delete(all=True)


@pytest.fixture(scope="session")
def _sides(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Side]]:
    cache: dict[str, Side] = {}
    with ExitStack() as stack:

        def get(engine: str) -> Side:
            if engine not in cache:
                url = stack.enter_context(fresh_database(engine, tmp_path_factory.mktemp(engine)))
                side = Side(engine, url, None, None)  # type: ignore[arg-type]
                side.settings = settings_from_dict(side.db_config)
                side.db = db_plugins.connect(side.settings.section(side.section))
                stack.callback(side.db.close)
                side.db.create_db()
                cache[engine] = side
            return cache[engine]

        yield get


@pytest.fixture
def side(_sides: Callable[[str], Side]) -> Callable[[str], Side]:
    """``side(engine)``: that engine's database, emptied."""

    def get(engine: str) -> Side:
        found = _sides(engine)
        found.clear()
        return found

    return get
