"""Mongo-specific fixtures: a fresh database on FerretDB (``mongodb``) and on mongomock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import db_plugins
from tests.servers import MONGO_ENGINES, fresh_database

MODELS = "tests.mongo.models"


@pytest.fixture(scope="session", params=MONGO_ENGINES)
def mongo_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database on each Mongo engine, for the whole session."""
    with fresh_database(request.param, tmp_path_factory.mktemp(request.param)) as url:
        yield url


@pytest.fixture
def mdb(mongo_url: str) -> Iterator[Any]:
    """A connection with the test models' collections created, dropped afterwards."""
    db = db_plugins.connect({"URL": mongo_url, "MODELS": MODELS})
    db.create_db()
    try:
        yield db
    finally:
        db.drop_db()
        db.database.drop_collection("_dbp_locks")
        db.close()
