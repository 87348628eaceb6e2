"""The SQLite migration lock file: exclusive across holders, and gone when no one needs it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from db_plugins.migrations import file_lock
from tests.migrations.project import Project


@pytest.mark.parametrize("engine", ["sqlite"])
def test_no_lock_file_is_left_next_to_the_database(project: Project) -> None:
    project.ok("initdb")
    project.ok("migrate")
    database = Path(project.url.removeprefix("sqlite:///"))
    assert database.exists()
    assert not list(database.parent.glob("*.dbp-lock")), list(database.parent.iterdir())


def test_the_lock_stays_exclusive_while_its_file_is_removed_and_recreated(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite.dbp-lock"
    inside: list[int] = []
    overlaps: list[list[int]] = []

    def hold(n: int) -> None:
        for _ in range(20):
            with file_lock(path, timeout=30):
                inside.append(n)
                if len(inside) > 1:
                    overlaps.append(list(inside))
                time.sleep(0.001)
                inside.remove(n)

    threads = [threading.Thread(target=hold, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []
    assert not path.exists()
