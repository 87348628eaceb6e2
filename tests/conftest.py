"""Shared fixtures: engines, fresh databases and the contract models."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import ENGINES, fresh_database


@pytest.fixture(scope="session")
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database on the engine named by the test's ``engine`` parameter (one per session)."""
    engine = request.param
    with fresh_database(engine, tmp_path_factory.mktemp(engine)) as url:
        yield url


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The steps run through the installed ``dbp`` program (``runner="process"``) are slow: a Python
    start-up per command. CI runs them (``-m slow``); the same steps run in process in the README's command."""
    for item in items:
        if getattr(getattr(item, "callspec", None), "params", {}).get("runner") == "process":
            item.add_marker(pytest.mark.slow)


def pytest_report_header(config: pytest.Config) -> list[str]:
    import os

    from tests.servers import ENV, require_servers

    lines = [f"db_plugins engines: {', '.join(ENGINES)}; DBP_REQUIRE_SERVERS={int(require_servers())}"]
    for engine, var in ENV.items():
        lines.append(f"  {engine}: {'set' if os.environ.get(var) else 'not set'} ({var})")
    return lines
