"""Mongo migrations on FerretDB and mongomock: initdb, make_migrations, migrate, check, downgrade, locks."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from db_plugins import commands
from db_plugins.config import load_settings
from tests.migrations import models
from tests.migrations.project import Project, migrate_twice_at_once
from tests.servers import MONGO_ENGINES


@pytest.fixture(params=MONGO_ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return request.param


def indexes(project: Project, collection: str) -> set[str]:
    with project.mongo() as db:
        return {index["name"] for index in db[collection].list_indexes()}


def collections(project: Project) -> set[str]:
    with project.mongo() as db:
        return set(db.list_collection_names())


def test_initdb_creates_collections_and_indexes_then_changes_nothing(project: Project) -> None:
    first = project.ok("initdb")
    assert {"star", "observation", "_dbp_migrations"} <= collections(project)
    assert indexes(project, "star") == {"_id_", "mag_1"}
    [initial] = project.revisions()
    head = initial.name.split("_", 1)[0]
    assert f"MONGO: stamped at {head}" in first.stdout
    assert "from db_plugins.db.mongo.migrations import IndexModel, create_collection, create_indexes" in (
        initial.read_text()
    )

    files = {p: p.read_bytes() for p in project.migrations_dir.rglob("*") if p.is_file()}
    second = project.ok("initdb")
    assert second.stdout.strip() == f"MONGO: already initialized at {head}; nothing to do"
    assert {p: p.read_bytes() for p in project.migrations_dir.rglob("*") if p.is_file()} == files
    assert project.ok("current").stdout.strip() == f"MONGO: {head}"
    assert project.ok("check").stdout.strip() == "MONGO: the models match the migrations"


def test_model_change_make_migrations_migrate_check_downgrade(project: Project) -> None:
    project.ok("initdb")
    with project.mongo() as db:
        db.star.insert_many([{"_id": "Vega", "mag": 0.03}, {"_id": "Deneb", "mag": 1.25}])
    project.write_models(models.MONGO_V2)
    stale = project.dbp("check")
    assert stale.exit_code == 1, stale
    for difference in models.MONGO_V2_DIFFERENCES:
        assert difference in stale.stdout

    before = project.revisions()
    project.ok("make_migrations", "-m", "color, flux, catalog")
    [new] = set(project.revisions()) - set(before)
    revision = new.name.split("_", 1)[0]
    assert new.name == f"{revision}_color_flux_catalog.py"
    assert "def upgrade(db):" in new.read_text() and 'drop_indexes(db, "observation", ["star_1"])' in new.read_text()
    assert "nothing to do (1 revision(s) pending: run dbp migrate)" in project.ok("initdb").stdout

    applied = project.ok("migrate")
    assert f"applied 1 revision(s): {revision}; now at {revision}" in applied.stdout
    assert indexes(project, "star") == {"_id_", "mag_1", "color_1"}
    assert indexes(project, "observation") == {"_id_", "by_flux"}
    assert indexes(project, "catalog") == {"_id_", "title_1"}
    assert project.ok("check").stdout.strip() == "MONGO: the models match the migrations"
    assert project.ok("make_migrations").stdout.strip() == "MONGO: No changes detected"
    assert set(project.revisions()) == {*before, new}

    reverted = project.ok("downgrade", "-1")
    assert f"reverted 1 revision(s): {revision}" in reverted.stdout
    assert "catalog" not in collections(project)
    assert indexes(project, "star") == {"_id_", "mag_1"}
    assert indexes(project, "observation") == {"_id_", "star_1"}
    with project.mongo() as db:
        assert db.star.find_one({"_id": "Deneb"}) == {"_id": "Deneb", "mag": 1.25}
    assert f"-> {revision} (head, pending)" in project.ok("history").stdout
    assert project.dbp("check").exit_code == 1


@pytest.mark.parametrize("command", [["migrate", "f00dfeedbeef"], ["downgrade", "f00dfeedbeef"]])
@pytest.mark.parametrize("runner", ["cli"])
def test_unknown_revision_is_a_one_line_error(project: Project, command: list[str]) -> None:
    project.ok("initdb")
    outcome = project.dbp(*command)
    assert outcome.exit_code == 1 and outcome.stdout == ""
    assert outcome.stderr.strip() == (
        "Error: MONGO: Can't locate revision identified by 'f00dfeedbeef' (it is unknown; see dbp history)"
    )


DATA_MIGRATION = '''
"""copy magnitudes into a new field"""

revision = "da7a00000001"
down_revision = {down!r}


def upgrade(db):
    for star in db.star.find({{"mag": {{"$exists": True}}}}):
        db.star.update_one({{"_id": star["_id"]}}, {{"$set": {{"brightness": -star["mag"]}}}})


def downgrade(db):
    db.star.update_many({{}}, {{"$unset": {{"brightness": ""}}}})
'''


@pytest.mark.parametrize("runner", ["cli"])
def test_hand_written_data_migration(project: Project) -> None:
    project.ok("initdb")
    [initial] = project.revisions()
    with project.mongo() as db:
        db.star.insert_many([{"_id": "Vega", "mag": 0.03}, {"_id": "Sirius", "mag": -1.46}])
    (project.versions_dir / "da7a00000001_brightness.py").write_text(
        DATA_MIGRATION.format(down=initial.name.split("_", 1)[0])
    )
    project.ok("migrate")
    with project.mongo() as db:
        assert db.star.find_one({"_id": "Sirius"})["brightness"] == 1.46
    project.ok("downgrade", "-1")
    with project.mongo() as db:
        assert "brightness" not in db.star.find_one({"_id": "Sirius"})

    broken = DATA_MIGRATION.format(down=initial.name.split("_", 1)[0]).replace('-star["mag"]', 'star["nope"]')
    (project.versions_dir / "da7a00000001_brightness.py").write_text(broken)
    outcome = project.dbp("migrate")
    assert outcome.exit_code == 1
    assert outcome.stderr.strip() == (
        "Error: MONGO: upgrade of revision da7a00000001 (da7a00000001_brightness.py) failed and was not recorded: "
        "KeyError: 'nope'"
    )
    assert project.ok("current").stdout.strip() == f"MONGO: {initial.name.split('_', 1)[0]}"


SLOW_MONGO_REVISION = '''
"""slow data migration"""
import os
import time
from pathlib import Path

revision = "5104da7a0002"
down_revision = {down!r}


def upgrade(db):
    Path(os.environ["DBP_TEST_STARTED"]).touch()
    time.sleep(2)
    db.applied_log.insert_one({{"pid": os.getpid()}})


def downgrade(db):
    db.drop_collection("applied_log")
'''


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["mongodb"])
@pytest.mark.parametrize("runner", ["process"])
def test_concurrent_migrate_applies_a_revision_once(project: Project, tmp_path: Path) -> None:
    project.ok("initdb")
    first, second = migrate_twice_at_once(project, "5104da7a0002_slow.py", SLOW_MONGO_REVISION, tmp_path / "started")
    assert "applied 1 revision(s): 5104da7a0002" in first[0]
    assert "nothing to apply" in second[0]
    with project.mongo() as db:
        assert db.applied_log.count_documents({}) == 1
        assert db["_dbp_migrations"].count_documents({"_id": "5104da7a0002"}) == 1


@pytest.mark.parametrize("runner", ["cli"])
def test_concurrent_migrate_in_threads(project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two migrations at once in one process (the only way to share a mongomock database)."""
    project.ok("initdb")
    [initial] = project.revisions()
    (project.versions_dir / "5104da7a0002_slow.py").write_text(
        SLOW_MONGO_REVISION.format(down=initial.name.split("_", 1)[0]).replace("time.sleep(2)", "time.sleep(0.5)")
    )
    monkeypatch.setenv("DBP_TEST_STARTED", str(tmp_path / "started"))
    settings = load_settings(project.root)
    results: list[dict[str, list[str]]] = []
    threads = [threading.Thread(target=lambda: results.append(commands.migrate(settings, echo=lambda _: None)))]
    threads.append(threading.Thread(target=lambda: results.append(commands.migrate(settings, echo=lambda _: None))))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results, key=lambda r: len(r["MONGO"])) == [{"MONGO": []}, {"MONGO": ["5104da7a0002"]}]
    with project.mongo() as db:
        assert db.applied_log.count_documents({}) == 1
    assert os.environ["DBP_TEST_STARTED"]
