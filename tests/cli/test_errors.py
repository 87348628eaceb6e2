"""dbp's user errors: one line on stderr, exit 1, no traceback unless --verbose, never a password."""

from __future__ import annotations

from pathlib import Path

import pytest

import db_plugins
from tests.migrations.project import RUNNERS, Outcome, run_dbp

PASSWORD = "Pw-d0nt-l3ak-9z"


@pytest.fixture(params=RUNNERS)
def runner(request: pytest.FixtureRequest) -> str:
    return request.param


def write_settings(directory: Path, text: str) -> Path:
    path = directory / "settings.py"
    path.write_text(text)
    return path


def assert_one_line_error(outcome: Outcome, *expected: str) -> str:
    assert outcome.exit_code == 1, outcome
    assert outcome.stdout == "", outcome
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1, outcome
    assert lines[0].startswith("Error: ")
    for text in expected:
        assert text in lines[0], outcome
    assert "Traceback" not in outcome.stderr
    return lines[0]


def test_no_settings_file(runner: str, tmp_path: Path) -> None:
    outcome = run_dbp(["migrate"], runner=runner, cwd=tmp_path, env={"DBP_SETTINGS": str(tmp_path / "nowhere.py")})
    assert_one_line_error(outcome, "settings file not found", "nowhere.py", "DBP_SETTINGS")


@pytest.mark.parametrize("runner", ["process"])
def test_no_settings_in_the_current_directory(runner: str, tmp_path: Path) -> None:
    outcome = run_dbp(["initdb"], runner=runner, cwd=tmp_path)
    assert_one_line_error(outcome, f"settings file not found: {tmp_path / 'settings.py'}", "--settings")


def test_settings_without_db_config(runner: str, tmp_path: Path) -> None:
    write_settings(tmp_path, "DATABASE = 'not it'\n")
    assert_one_line_error(run_dbp(["initdb"], runner=runner, cwd=tmp_path), "defines no DB_CONFIG")


def test_settings_with_a_syntax_error(runner: str, tmp_path: Path) -> None:
    write_settings(tmp_path, 'DB_CONFIG = {"SQL": {"URL": "sqlite:///x.db"}\n')
    assert_one_line_error(run_dbp(["migrate"], runner=runner, cwd=tmp_path), "syntax error on line 1")


def test_settings_with_a_bad_section(runner: str, tmp_path: Path) -> None:
    write_settings(tmp_path, 'DB_CONFIG = {"SQL": {"URL": "sqlite:///x.db", "PORT": "5432", "MODELS": 3}}\n')
    assert_one_line_error(run_dbp(["current"], runner=runner, cwd=tmp_path), "DB_CONFIG['SQL']")


UNREACHABLE = {
    "postgresql URL": f'{{"SQL": {{"URL": "postgresql://broker:{PASSWORD}@127.0.0.1:1/broker"}}}}',
    "mysql keys": (
        f'{{"SQL": {{"ENGINE": "mysql", "HOST": "127.0.0.1", "PORT": 1, "USER": "broker", '
        f'"PASSWORD": "{PASSWORD}", "DB_NAME": "broker"}}}}'
    ),
    "mongodb": (
        f'{{"MONGO": {{"URL": "mongodb://broker:{PASSWORD}@127.0.0.1:1/broker", "SERVER_SELECTION_TIMEOUT_MS": 300}}}}'
    ),
}


@pytest.mark.parametrize("config", UNREACHABLE.values(), ids=UNREACHABLE.keys())
@pytest.mark.parametrize("command", ["initdb", "migrate"])
def test_unreachable_server(runner: str, tmp_path: Path, config: str, command: str) -> None:
    write_settings(tmp_path, f"DB_CONFIG = {config}\n")
    migrations = tmp_path / "migrations"
    if command != "initdb":  # a project whose migrations exist already
        (migrations / "versions").mkdir(parents=True)
        (migrations / "mongo").mkdir()
    outcome = run_dbp([command], runner=runner, cwd=tmp_path)
    line = assert_one_line_error(outcome, "127.0.0.1")
    assert PASSWORD not in outcome.output
    assert "***" in line or "broker@" not in line
    if command == "initdb":
        assert not migrations.exists()  # nothing scaffolded when the server cannot be reached

    verbose = run_dbp(["-v", command], runner=runner, cwd=tmp_path)
    assert verbose.exit_code == 1
    assert "Traceback" in verbose.stderr
    assert verbose.stderr.strip().splitlines()[-1] == line
    assert PASSWORD not in verbose.output


def test_an_unexpected_error_is_one_line_too(runner: str, tmp_path: Path) -> None:
    write_settings(tmp_path, 'DB_CONFIG = {"SQL": {"URL": "sqlite:///x.db", "MODELS": "brokenmodels"}}\n')
    (tmp_path / "brokenmodels.py").write_text("raise RuntimeError('models exploded')\n")
    line = assert_one_line_error(run_dbp(["initdb"], runner=runner, cwd=tmp_path), "RuntimeError", "models exploded")
    assert "-v" in line
    verbose = run_dbp(["--verbose", "initdb"], runner=runner, cwd=tmp_path)
    assert verbose.exit_code == 1 and "Traceback" in verbose.stderr and "brokenmodels.py" in verbose.stderr


def test_a_section_that_is_not_configured(runner: str, tmp_path: Path) -> None:
    write_settings(tmp_path, 'DB_CONFIG = {"SQL": {"URL": "sqlite:///x.db"}}\n')
    outcome = run_dbp(["current", "--engine", "mongo"], runner=runner, cwd=tmp_path)
    assert_one_line_error(outcome, "no 'MONGO' section (configured: SQL)")


@pytest.mark.parametrize(
    "args",
    [["bogus"], ["--nope", "initdb"], ["migrate", "--engine", "ORACLE"], ["downgrade"], ["make_migrations", "-m"]],
    ids=["unknown command", "unknown option", "unknown engine", "missing target", "missing message"],
)
def test_usage_errors_exit_2(runner: str, tmp_path: Path, args: list[str]) -> None:
    outcome = run_dbp(args, runner=runner, cwd=tmp_path)
    assert outcome.exit_code == 2, outcome
    assert outcome.stderr.startswith(("Usage:", "Error:")) and outcome.stdout == ""


def test_version(runner: str, tmp_path: Path) -> None:
    outcome = run_dbp(["--version"], runner=runner, cwd=tmp_path)
    assert outcome.exit_code == 0 and outcome.stdout.strip() == f"dbp {db_plugins.__version__}"


def test_help_lists_the_documented_command_names(runner: str, tmp_path: Path) -> None:
    outcome = run_dbp(["--help"], runner=runner, cwd=tmp_path)
    assert outcome.exit_code == 0
    for name in ("initdb", "make_migrations", "migrate", "downgrade", "history", "current", "check"):
        assert f"  {name} " in outcome.stdout
    for spelling in ("make_migrations", "make-migrations"):
        assert "--message" in run_dbp([spelling, "--help"], runner=runner, cwd=tmp_path).stdout
