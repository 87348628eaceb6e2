"""Progress bars (tqdm, on standard error): drawn on a terminal or with DBP_PROGRESS=1, never with -q."""

from __future__ import annotations

import pytest

from tests.migrations.project import Project

FORCED = {"DBP_PROGRESS": "1"}  # stands in for a terminal


# As a program once (what a user sees); in this process on the others (the same code, less time).
@pytest.mark.parametrize(("engine", "runner"), [("sqlite", "process"), ("postgresql", "cli"), ("mongodb", "cli")])
def test_migrate_and_downgrade_count_revisions(project: Project) -> None:
    project.ok("initdb")
    section = project.section

    reverted = project.dbp("downgrade", "base", env=FORCED)
    assert reverted.exit_code == 0, reverted
    assert f"{section}: reverting" in reverted.stderr and "1revision" in reverted.stderr.replace(" ", ""), reverted
    migrated = project.dbp("migrate", env=FORCED)
    assert migrated.exit_code == 0, migrated
    assert f"{section}: migrating" in migrated.stderr and "1/1" in migrated.stderr, migrated
    assert "applied 1 revision(s)" in migrated.stdout  # the report is unchanged

    for args, env in ((["downgrade", "base", "-q"], FORCED), (["-q", "migrate"], FORCED), (["migrate"], {})):
        quiet = project.dbp(*args, env=env)  # -q, or standard error not a terminal
        assert (quiet.exit_code, quiet.stderr) == (0, ""), quiet
