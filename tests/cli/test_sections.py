"""A settings file with both sections: dbp acts on each, or on the one --engine names."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner

from db_plugins.cli import cli
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


def test_the_dbp_program_refuses_an_in_memory_database(project: Path) -> None:
    """Each dbp run is a process of its own: mongomock:// or in-memory SQLite data would die with it."""
    refused = run_dbp(["initdb"], runner="process", cwd=project)
    assert refused.exit_code == 1 and refused.stdout == "", refused
    assert refused.stderr.splitlines() == [
        "Error: MONGO: mongomock:// keeps its data only for one process: dbp initdb would start on an empty "
        "database and what it writes would be lost; use a mongodb:// URL (a MongoDB or FerretDB server), "
        "or call db_plugins.commands.initdb in the process that uses the database"
    ]
    # The section not acted on is no obstacle; in this process (CliRunner, db_plugins.commands) mongomock works.
    assert run_dbp(["initdb", "--engine", "SQL"], runner="process", cwd=project).exit_code == 0
    assert run_dbp(["initdb", "--engine", "MONGO"], runner="cli", cwd=project).exit_code == 0

    for url in ("sqlite://", "sqlite:///:memory:"):
        (project / "settings.py").write_text(f'DB_CONFIG = {{"SQL": {{"URL": {url!r}, "MODELS": "m:Base"}}}}\n')
        memory = run_dbp(["migrate"], runner="process", cwd=project)
        assert memory.exit_code == 1, memory
        [line] = memory.stderr.splitlines()
        assert line.startswith("Error: SQL: sqlite:// keeps its data only for one process: dbp migrate would"), line
        assert "use a SQLite file (sqlite:///app.db) or a server" in line


def test_help_lists_every_command() -> None:
    shown = CliRunner().invoke(cli, ["--help"]).output
    commands = shown.split("Commands:", 1)[1].split()
    for name in ("initdb", "make_migrations", "migrate", "downgrade", "history", "current", "check", "dump", "load"):
        assert name in commands, shown
    assert "-q, --quiet" in shown
