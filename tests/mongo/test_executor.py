"""Compile, then execute: every call of the query interface runs as commands through ``connection.executor``."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from db_plugins.db.mongo.commands import CountCommand, FindCommand, InsertCommand, UpdateCommand
from db_plugins.db.mongo.executor import SyncExecutor
from tests.mongo.models import Doc, User


class Recording(SyncExecutor):
    """The sync executor, noting each command it runs; the native collection refuses to be called directly."""

    def __init__(self, connection: Any) -> None:
        super().__init__(connection)
        self.ran: list[tuple[str, Any]] = []

    def find(self, command: FindCommand, build: Any = None) -> list[Any]:
        self.ran.append(("find", command))
        return super().find(command, build)

    def stream(self, command: FindCommand, build: Any = None) -> Any:
        self.ran.append(("stream", command))
        return super().stream(command, build)

    def count(self, command: CountCommand) -> int:
        self.ran.append(("count", command))
        return super().count(command)

    def insert_one(self, command: InsertCommand) -> None:
        self.ran.append(("insert_one", command))
        super().insert_one(command)

    def find_one_and_update(self, command: UpdateCommand) -> Any:
        self.ran.append(("find_one_and_update", command))
        return super().find_one_and_update(command)


@pytest.fixture
def recording(mdb: Any) -> Recording:
    mdb.executor = Recording(mdb)
    return mdb.executor


def test_reads_compile_to_commands_that_one_executor_runs(mdb, recording):
    docs = mdb.query(Doc)
    docs.bulk_insert({"key": f"k{i}", "i": i} for i in range(5))
    recording.ran.clear()

    assert docs.find_one({"key": "k1"}).i == 1
    page = docs.paginate(per_page=2, filter_by={"i": {"$gte": 1}}, order_by="-i")
    assert [d.key for d in page.items] == ["k4", "k3"] and page.total == 4
    assert docs.check_exists({"i": 3}) and docs.count() == 5
    assert [d.key for d in docs.find_all({"i": {"$lt": 2}}, order_by="i", paginate=False)] == ["k0", "k1"]

    kinds = [kind for kind, _ in recording.ran]
    assert kinds == ["find", "find", "count", "count", "count", "stream"]
    (_, one), (_, fetch), (_, total), (_, exists), _, (_, stream) = recording.ran
    # The key pins at most one document: no sort is asked of the server.
    assert one == FindCommand("docs", {"_id": {"$eq": "k1"}}, None, None, 0, 1, 0)
    assert fetch.sort == [("i", -1), ("_id", 1)] and (fetch.skip, fetch.limit) == (0, 3)
    assert total.filter == fetch.filter and total.limit == 0 and exists.limit == 1
    assert stream.sort == [("i", 1), ("_id", 1)] and stream.limit == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.limit = 2  # type: ignore[misc]


def test_writes_and_get_or_create_run_through_the_executor(mdb, recording):
    users = mdb.query(User)
    user, created = users.get_or_create({"email": "a@x"}, name="a")
    assert created and users.get_or_create({"email": "a@x"}) == (user, False)
    users.update(user, {"name": "b"})
    kinds = [kind for kind, _ in recording.ran]
    assert kinds == ["find", "insert_one", "find", "find_one_and_update"]
    assert recording.ran[1][1] == InsertCommand("users", ({"email": "a@x", "name": "a", "_id": user._id},))
