"""The SQL migrations directory: concurrent migrate, plain Alembic on it, the Python API's manners."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import db_plugins
from db_plugins import commands
from db_plugins.config import load_settings
from tests.migrations import models
from tests.migrations.project import BIN, Project, migrate_twice_at_once

# A hand-written data migration that announces it has started, then takes its time:
# a second `dbp migrate` started meanwhile must wait for it and then apply nothing.
SLOW_SQL_REVISION = '''
"""slow data migration"""
import os
import time
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "5104da7a0001"
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("applied_log", sa.Column("id", sa.Integer, primary_key=True), sa.Column("pid", sa.Integer))
    Path(os.environ["DBP_TEST_STARTED"]).touch()
    time.sleep(2)
    op.execute(f"INSERT INTO applied_log (pid) VALUES ({{os.getpid()}})")


def downgrade():
    op.drop_table("applied_log")
'''


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["process"])
def test_concurrent_migrate_applies_a_revision_once(project: Project, tmp_path: Path) -> None:
    project.ok("initdb")
    first, second = migrate_twice_at_once(project, "5104da7a0001_slow.py", SLOW_SQL_REVISION, tmp_path / "started")
    assert "applied 1 revision(s): 5104da7a0001" in first[0]
    assert "nothing to apply" in second[0]
    assert project.scalar("SELECT COUNT(*) FROM applied_log") == 1
    assert project.scalar("SELECT version_num FROM alembic_version") == "5104da7a0001"


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
@pytest.mark.parametrize("runner", ["process"])
def test_plain_alembic_works_on_the_scaffolded_directory(project: Project) -> None:
    """env.py loads the same settings through db_plugins when Alembic, not dbp, runs it."""
    project.ok("initdb")
    [initial] = project.revisions()
    project.write_models(models.SQL_V2)
    project.ok("make_migrations")
    [new] = set(project.revisions()) - {initial}
    revision = new.name.split("_", 1)[0]
    alembic = [str(BIN / "alembic"), "-c", "migrations/alembic.ini"]
    env = {k: v for k, v in os.environ.items() if k != "DBP_SETTINGS"}

    def run(*args: str, cwd: Path = project.root) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*alembic, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done
        return done

    run("upgrade", "head")
    assert "color" in project.columns("star")
    assert revision in run("current").stdout
    # From another directory, with the settings named explicitly.
    alembic[2] = str(project.migrations_dir / "alembic.ini")
    run("-x", f"settings={project.root / 'settings.py'}", "downgrade", "-1", cwd=Path("/"))
    assert "color" not in project.columns("star")
    sql = run("upgrade", "head", "--sql").stdout  # offline mode needs no connection
    assert "ALTER TABLE star ADD COLUMN color" in sql


@pytest.mark.parametrize("runner", ["cli"])
def test_commands_as_python_functions(project: Project) -> None:
    """The functions behind dbp return results, print through echo, and leave the process as they found it."""
    package = Path(db_plugins.__file__).parent
    package_files = sorted(p for p in package.rglob("*") if "__pycache__" not in p.parts)
    cwd, path = os.getcwd(), list(sys.path)
    settings = load_settings(project.root / "settings.py")
    lines: list[str] = []

    assert commands.initdb(settings, echo=lines.append) == {"SQL": True}
    assert commands.initdb(settings, engine="sql", echo=lines.append) == {"SQL": False}
    [initial] = project.revisions()
    head = initial.name.split("_", 1)[0]
    assert commands.current(settings, echo=lines.append) == {"SQL": [head]}
    assert commands.check(settings, echo=lines.append) == {"SQL": []}

    project.write_models(models.SQL_V2)
    settings = load_settings(project.root / "settings.py")
    assert len(commands.check(settings, echo=lines.append)["SQL"]) == 3
    written = commands.make_migrations(settings, message="v2", echo=lines.append)["SQL"]
    assert written is not None and written.parent == project.versions_dir
    revision = written.name.split("_", 1)[0]
    assert commands.migrate(settings, echo=lines.append) == {"SQL": [revision]}
    history = commands.history(settings, echo=lines.append)["SQL"]
    assert [(r.id, r.is_head, r.applied) for r in history] == [(revision, True, True), (head, False, True)]
    assert commands.downgrade(settings, "base", echo=lines.append) == {"SQL": [revision, head]}

    assert lines and all(line.startswith("SQL: ") for line in lines)
    assert (os.getcwd(), sys.path) == (cwd, path)
    assert sorted(p for p in package.rglob("*") if "__pycache__" not in p.parts) == package_files
