"""``async with db.transaction()`` on MongoDB: the async client's session, in every call of the block's task.

FerretDB (the test server) has no transactions, so the session calls are checked
on a recording fake of pymongo's async client and collections.
"""

from __future__ import annotations

import asyncio
import secrets

import pytest

import db_plugins
from db_plugins.db.mongo.aio import AsyncExecutor

pytest.importorskip("greenlet")


class _Session:
    def __init__(self, log: list) -> None:
        self.log = log

    async def start_transaction(self) -> None:
        self.log.append("start")

    async def commit_transaction(self) -> None:
        self.log.append("commit")

    async def abort_transaction(self) -> None:
        self.log.append("abort")

    async def end_session(self) -> None:
        self.log.append("end")


class _Client:
    def __init__(self, log: list) -> None:
        self.log = log

    def start_session(self) -> _Session:
        return _Session(self.log)

    async def close(self) -> None:
        pass


class _Collection:
    def __init__(self, log: list) -> None:
        self.log = log

    async def insert_one(self, document: dict, session: object = None) -> None:
        self.log.append(("insert_one", document["_id"], session))


async def _scenario() -> None:
    log: list = []
    db = await db_plugins.connect_async(
        {"URL": f"mongomock://localhost/t{secrets.token_hex(4)}", "MODELS": "tests.contract.models_mongo"}
    )
    connection = db.sync
    connection.features.transactions = True  # as on a replica set
    connection.async_client = _Client(log)
    connection.executor = AsyncExecutor(connection, {"items": _Collection(log)}, threaded=False)
    from tests.contract.models_mongo import Item

    q = db.query(Item)
    async with db.transaction() as session:
        await q.insert({"oid": "A"})
        # Another task's calls are not in this task's transaction.
        await asyncio.create_task(q.insert({"oid": "B"}))
        await q.insert({"oid": "C"})
    assert isinstance(session, _Session)
    inserts = [("insert_one", "A", session), ("insert_one", "B", None), ("insert_one", "C", session)]
    assert log == ["start", *inserts, "commit", "end"]

    log.clear()
    with pytest.raises(RuntimeError, match="boom"):
        async with db.transaction() as session:
            await q.insert({"oid": "D"})
            raise RuntimeError("boom")
    assert log == ["start", ("insert_one", "D", session), "abort", "end"]

    log.clear()
    async with db.transaction():
        with pytest.raises(db_plugins.UnsupportedOperation, match="nest"):
            async with db.transaction():
                pass
    assert log == ["start", "commit", "end"]
    await db.close()


def test_async_transaction_runs_the_blocks_calls_in_the_async_clients_session():
    asyncio.run(_scenario())
