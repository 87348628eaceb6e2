"""Fresh databases for the ALeRCE 4.x compatibility tests, one per engine and module."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from db_plugins.compat.alerce import AlerceCompatWarning
from tests.servers import MONGO_ENGINES, SQL_ENGINES, fresh_database


@pytest.fixture(scope="module", params=SQL_ENGINES)
def sql_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(request.param, tmp_path_factory.mktemp(request.param)) as url:
        yield url


@pytest.fixture(scope="module", params=MONGO_ENGINES)
def mongo_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(request.param, tmp_path_factory.mktemp(request.param)) as url:
        yield url


@pytest.fixture
def modern_only() -> Iterator[None]:
    """Fail on any 4.x-form warning in the block: the form used is the modern one."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", AlerceCompatWarning)
        yield
