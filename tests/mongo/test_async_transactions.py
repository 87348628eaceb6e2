"""``async with db.transaction()`` on MongoDB: a session of the async client, passed to every call.

FerretDB has no transactions (``features.transactions`` is False), and there
the block is refused as on the sync API. The path a MongoDB replica set takes
is checked at the client level: with the flag forced on, each command of the
block carries the session's transaction fields, as a command listener on the
async client sees them. FerretDB then refuses the unknown ``startTransaction``
field, and the block ends with a db_plugins error, nothing written.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo import monitoring

import db_plugins
from tests.mongo.conftest import MODELS
from tests.mongo.models import Note


class Commands(monitoring.CommandListener):
    """The commands a client sends."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def _connect(url: str, listener: Commands | None = None) -> Any:
    config: dict[str, Any] = {"URL": url, "MODELS": MODELS}
    if listener is not None:
        config["EVENT_LISTENERS"] = [listener]
    return db_plugins.connect_async(config)


def test_without_server_transactions_the_block_is_refused(mongo_url: str) -> None:
    async def main() -> None:
        async with await _connect(mongo_url) as db:
            await db.create_db()
            with pytest.raises(db_plugins.UnsupportedOperation, match=r"transaction: .*replica set"):
                async with db.transaction():
                    await db.query(Note).insert({"text": "never"})
            assert await db.query(Note).count() == 0
            await db.drop_db()

    asyncio.run(main())


def test_the_blocks_calls_carry_one_async_session(mongo_url: str) -> None:
    if mongo_url.startswith("mongomock"):
        pytest.skip("the embedded engine has no client sessions")
    listener = Commands()

    async def main() -> None:
        async with await _connect(mongo_url, listener) as db:
            await db.create_db()
            db.features.transactions = True  # as on a replica set
            with pytest.raises(db_plugins.DatabaseError, match="startTransaction"):
                async with db.transaction() as session:
                    assert type(session).__name__ == "AsyncClientSession"
                    await db.query(Note).insert({"text": "in the block"})
            db.features.transactions = False
            assert await db.query(Note).count() == 0
            await db.drop_db()

    asyncio.run(main())
    [insert] = [command for command in listener.sent if "insert" in command]
    assert insert["startTransaction"] is True and "lsid" in insert and "txnNumber" in insert
    assert insert["autocommit"] is False
