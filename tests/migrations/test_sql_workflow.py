"""initdb, make_migrations, migrate, check, downgrade on every SQL engine, via CliRunner and the dbp script."""

from __future__ import annotations

import pytest

from tests.migrations import models
from tests.migrations.project import Project


def test_initdb_creates_tables_scaffolds_and_stamps_then_changes_nothing(project: Project) -> None:
    first = project.ok("initdb")
    assert project.tables() >= {"star", "observation", "alembic_version"}
    assert {"env.py", "script.py.mako", "alembic.ini"} <= {p.name for p in project.migrations_dir.iterdir()}
    [initial] = project.revisions()
    head = initial.name.split("_", 1)[0]
    assert project.scalar("SELECT version_num FROM alembic_version") == head
    assert "created tables: star, observation" in first.stdout

    files = {p: p.read_bytes() for p in project.migrations_dir.rglob("*") if p.is_file()}
    second = project.ok("initdb")
    assert "nothing to do" in second.stdout
    assert {p: p.read_bytes() for p in project.migrations_dir.rglob("*") if p.is_file()} == files
    assert project.scalar("SELECT version_num FROM alembic_version") == head
    assert project.ok("current").stdout.strip() == f"SQL: {head}"


def test_model_change_make_migrations_migrate_check_downgrade(project: Project) -> None:
    project.ok("initdb")
    project.execute("INSERT INTO star (name, mag) VALUES ('Vega', 0.03), ('Deneb', 1.25)")
    project.execute("INSERT INTO observation (id, star, flux) VALUES (1, 'Vega', 2.5)")
    assert project.dbp("check").exit_code == 0

    project.write_models(models.SQL_V2)
    stale = project.dbp("check")
    assert stale.exit_code == 1, stale
    for difference in models.SQL_V2_DIFFERENCES:
        assert difference in stale.stdout

    before = project.revisions()
    made = project.ok("make_migrations", "-m", "color, flux index, catalog")
    [new] = sorted(set(project.revisions()) - set(before))
    assert new.name.endswith("_color_flux_index_catalog.py")
    assert "op.add_column" in new.read_text() and "create_table('catalog'" in new.read_text()
    assert "wrote" in made.stdout
    assert project.dbp("check").exit_code == 1  # written but not applied yet
    assert "nothing to do (1 revision(s) pending: run dbp migrate)" in project.ok("initdb").stdout
    applied = project.ok("migrate")
    revision = new.name.split("_", 1)[0]
    assert f"applied 1 revision(s): {revision}" in applied.stdout
    assert "color" in project.columns("star") and "catalog" in project.tables()
    assert "ix_observation_flux" in project.indexes("observation")
    assert project.ok("check").stdout.strip() == "SQL: the models match the migrations"
    assert "nothing to apply" in project.ok("migrate").stdout
    assert project.ok("make_migrations").stdout.strip() == "SQL: No changes detected"
    assert len(project.revisions()) == len(before) + 1

    reverted = project.ok("downgrade", "-1")
    assert f"reverted 1 revision(s): {revision}" in reverted.stdout
    assert "color" not in project.columns("star") and "catalog" not in project.tables()
    assert "ix_observation_flux" not in project.indexes("observation")
    assert project.scalar("SELECT mag FROM star WHERE name = 'Deneb'") == 1.25
    assert project.scalar("SELECT flux FROM observation WHERE id = 1") == 2.5
    history = project.ok("history").stdout
    assert f"-> {revision} (head, pending)" in history and "initial schema" in history

    project.ok("migrate", revision)
    assert project.scalar("SELECT COUNT(*) FROM star") == 2


@pytest.mark.parametrize("runner", ["cli"])
def test_downgrade_to_base_and_back(project: Project) -> None:
    project.ok("initdb")
    project.ok("downgrade", "base")
    assert "star" not in project.tables()
    assert project.ok("current").stdout.strip() == "SQL: no revision applied"
    project.ok("migrate")
    assert {"star", "observation"} <= project.tables()


@pytest.mark.parametrize("command", [["migrate", "f00dfeedbeef"], ["downgrade", "f00dfeedbeef"]])
@pytest.mark.parametrize("runner", ["cli"])
def test_unknown_revision_is_a_one_line_error(project: Project, command: list[str]) -> None:
    project.ok("initdb")
    outcome = project.dbp(*command)
    assert outcome.exit_code == 1
    assert outcome.stderr.strip() == "Error: SQL: Can't locate revision identified by 'f00dfeedbeef'"
    assert outcome.stdout == ""


@pytest.mark.parametrize("runner", ["cli"])
def test_make_migrations_needs_an_up_to_date_database(project: Project) -> None:
    project.ok("initdb")
    project.write_models(models.SQL_V2)
    project.ok("make_migrations")
    outcome = project.dbp("make_migrations")
    assert outcome.exit_code == 1
    assert "not at the head revision (run dbp migrate first)" in outcome.stderr
    assert len(outcome.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("runner", ["cli"])
def test_commands_need_the_migrations_directory(project: Project) -> None:
    outcome = project.dbp("migrate")
    assert outcome.exit_code == 1
    assert (
        outcome.stderr.strip()
        == f"Error: SQL: no migrations directory at {project.migrations_dir} (run dbp initdb first)"
    )
    assert not project.migrations_dir.exists()
