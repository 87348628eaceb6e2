"""A settings file with both sections: dbp acts on each, or on the one --engine names."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.migrations import models
from tests.migrations.project import RUNNERS, run_dbp, write_module

SETTINGS = """
DB_CONFIG = {{
    "SQL": {{"URL": "sqlite:///app.db", "MODELS": "sql_{token}:Base"}},
    "MONGO": {{"URL": "mongomock://localhost/app_{token}", "MODELS": "mongo_{token}"}},
}}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    token = secrets.token_hex(4)
    (tmp_path / "settings.py").write_text(SETTINGS.format(token=token))
    write_module(tmp_path, f"sql_{token}", models.SQL_V1)
    write_module(tmp_path, f"mongo_{token}", models.MONGO_V1)
    return tmp_path


@pytest.mark.parametrize("runner", RUNNERS[:1])  # mongomock's data lives in this process
def test_every_section_or_the_one_named(project: Path, runner: str) -> None:
    def dbp(*args: str) -> str:
        outcome = run_dbp(args, runner=runner, cwd=project)
        assert outcome.exit_code == 0, outcome
        return outcome.stdout

    sql_only = dbp("initdb", "--engine", "sql")
    assert "SQL: stamped at" in sql_only and "MONGO" not in sql_only
    both = dbp("initdb")
    assert "SQL: already initialized" in both and "MONGO: stamped at" in both
    assert [line.split(":")[0] for line in dbp("current").splitlines()] == ["SQL", "MONGO"]
    assert dbp("check").splitlines() == [
        "SQL: the models match the migrations",
        "MONGO: the models match the migrations",
    ]

    [mongo_models] = project.glob("mongo_*.py")
    write_module(project, mongo_models.stem, models.MONGO_V2)
    stale = run_dbp(["check"], runner=runner, cwd=project)
    assert stale.exit_code == 1  # one section differing is enough
    assert "SQL: the models match the migrations" in stale.stdout and "MONGO: 5 difference(s)" in stale.stdout


@pytest.mark.parametrize("runner", RUNNERS[:1])
def test_verbose_logs_progress_to_stderr_each_run(project: Path, runner: str) -> None:
    for _ in range(2):  # the second run must log to its own stderr, not the first one's
        outcome = run_dbp(["-v", "initdb", "--engine", "SQL"], runner=runner, cwd=project)
        assert outcome.exit_code == 0, outcome
        assert "INFO [alembic.runtime.migration]" in outcome.stderr
    quiet = run_dbp(["current", "--engine", "SQL"], runner=runner, cwd=project)
    assert quiet.stderr == ""
