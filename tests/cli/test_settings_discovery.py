"""dbp finds settings as the spec says: --settings (file or directory) > $DBP_SETTINGS > ./settings.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.migrations.project import RUNNERS, run_dbp


@pytest.fixture(params=RUNNERS)
def runner(request: pytest.FixtureRequest) -> str:
    return request.param


def make_project(root: Path, database: str) -> Path:
    root.mkdir()
    (root / "settings.py").write_text(f'DB_CONFIG = {{"SQL": {{"URL": "sqlite:///{database}"}}}}\n')
    return root


def test_settings_option_env_and_current_directory(runner: str, tmp_path: Path) -> None:
    a, b, c = (make_project(tmp_path / name, f"{name}.db") for name in "abc")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    # --settings wins over DBP_SETTINGS; a directory means its settings.py.
    outcome = run_dbp(["--settings", str(a), "initdb"], runner=runner, cwd=elsewhere, env={"DBP_SETTINGS": str(b)})
    assert outcome.exit_code == 0, outcome
    assert (a / "a.db").exists() and (a / "migrations" / "env.py").exists()
    assert not (b / "b.db").exists()

    outcome = run_dbp(["initdb"], runner=runner, cwd=elsewhere, env={"DBP_SETTINGS": str(b / "settings.py")})
    assert outcome.exit_code == 0, outcome
    assert (b / "b.db").exists() and (b / "migrations").is_dir()

    if runner == "process":  # CliRunner shares this process's working directory
        outcome = run_dbp(["initdb"], runner=runner, cwd=c)
        assert outcome.exit_code == 0, outcome
        assert (c / "c.db").exists() and (c / "migrations").is_dir()
    assert list(elsewhere.iterdir()) == []  # relative paths are relative to the settings file


def test_global_options_work_after_the_command_too(runner: str, tmp_path: Path) -> None:
    """``dbp current --settings X`` and ``dbp initdb -v``, as users type them, not "No such option"."""
    a = make_project(tmp_path / "a", "a.db")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    outcome = run_dbp(["initdb", "--settings", str(a), "-v"], runner=runner, cwd=elsewhere)
    assert outcome.exit_code == 0, outcome
    assert (a / "a.db").exists()
    assert "INFO" in outcome.stderr  # -v after the command logs progress as before it
    outcome = run_dbp(["current", "--settings", str(a / "settings.py")], runner=runner, cwd=elsewhere)
    assert outcome.exit_code == 0, outcome
    # Given on both sides, the one after the command wins (it is the nearer one).
    outcome = run_dbp(["--settings", str(elsewhere), "current", "--settings", str(a)], runner=runner, cwd=elsewhere)
    assert outcome.exit_code == 0, outcome


def test_a_section_without_models_says_so(runner: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """initdb still sets up the migrations but says no models are configured and how to set MODELS;
    make_migrations refuses (an empty model set would read as "drop every table")."""
    # Without MODELS the library's own declarative Base is used: in this process it holds the
    # example application's models once any test has imported them (as a user's models would).
    import sqlalchemy as sa

    from db_plugins.db.sql import models

    monkeypatch.setattr(models, "Base", sa.MetaData())
    a = make_project(tmp_path / "a", "a.db")
    outcome = run_dbp(["--settings", str(a), "initdb"], runner=runner, cwd=tmp_path)
    assert outcome.exit_code == 0, outcome
    assert "SQL: no models configured (set DB_CONFIG['SQL']['MODELS'] to the module that holds them" in outcome.stdout
    outcome = run_dbp(["--settings", str(a), "make_migrations"], runner=runner, cwd=tmp_path)
    assert outcome.exit_code == 1, outcome
    assert "no models configured" in outcome.stderr and "nothing to compare" in outcome.stderr
    assert not list((a / "migrations" / "versions").glob("*.py"))


def test_a_relative_target_past_the_revisions_is_said_in_our_words(runner: str, tmp_path: Path) -> None:
    a = make_project(tmp_path / "a", "a.db")
    assert run_dbp(["--settings", str(a), "initdb"], runner=runner, cwd=tmp_path).exit_code == 0
    for args, said in ((["migrate", "-1"], "cannot go back 1 revision"), (["downgrade", "-2"], "back 2 revisions")):
        outcome = run_dbp(["--settings", str(a), *args], runner=runner, cwd=tmp_path)
        assert outcome.exit_code == 1, outcome
        assert said in outcome.stderr and "didn't produce" not in outcome.stderr, outcome
