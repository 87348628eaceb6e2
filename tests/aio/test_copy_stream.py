"""bulk_insert of a list on the asyncio API: PostgreSQL streams the batches through one
``COPY`` (each checked while the server takes the last), the other engines batch by batch.

Whatever the path, the rows stored, the errors and the database after an error are those
of the batch-by-batch path: a value refused in a late batch names its row and leaves nothing
written, and the connection goes on serving.
"""

from __future__ import annotations

import datetime as dt
import gc
from typing import Any

import pytest

import db_plugins
from db_plugins.db.sql.dialects import postgresql
from tests.aio.conftest import AioEnv
from tests.aio.test_cancellation import pool_state
from tests.servers import SQL_ENGINES

pytestmark = pytest.mark.parametrize("aio_database", SQL_ENGINES, indirect=True)

BATCH = 50
LAST = dt.datetime(9999, 12, 31, 23, 59, 59, 999999)


def _rows(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"id": i, "i": i * 7, "f": i / 4, "s": f"s{i}", "b": i % 2 == 0, "t": dt.datetime(2020, 1, 1) + dt.timedelta(i)}
        for i in range(start, start + count)
    ]


@pytest.fixture(autouse=True)
def _no_samples(aenv: AioEnv) -> None:
    aenv.sync.query(aenv.models.Sample).delete(all=True)


@pytest.fixture
def copies(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The rows of each ``COPY`` asyncpg is given from now on (streamed or one batch)."""
    sent: list[int] = []
    copy = postgresql._copy_binary

    def counting(connection: Any, table: str, schema: Any, names: Any, rows: Any, native: bool = False) -> None:
        seen = 0

        def through() -> Any:
            nonlocal seen
            for row in rows:
                seen += 1
                yield row

        try:
            copy(connection, table, schema, names, through(), native)
        finally:
            sent.append(seen)

    monkeypatch.setattr(postgresql, "_copy_binary", counting)
    return sent


async def _stored(aenv: AioEnv) -> list[tuple[Any, ...]]:
    query = aenv.sync.query(aenv.models.Sample)
    return [(r.id, r.i, r.f, r.s, r.b, r.t) for r in query.find_all(order_by="id", paginate=False)]


async def test_a_list_goes_in_one_stream_of_checked_batches(
    aenv: AioEnv, monkeypatch: pytest.MonkeyPatch, copies: list[int]
) -> None:
    rows = _rows(4 * BATCH + 3)
    async with aenv.connect() as db:
        monkeypatch.setattr(db.sync.features, "bulk_batch_size", BATCH)
        assert await db.query(aenv.models.Sample).bulk_insert(rows) == len(rows)
        assert pool_state(db) in {(0,), (0, 0)}
    assert await _stored(aenv) == [(r["id"], r["i"], r["f"], r["s"], r["b"], r["t"]) for r in rows]
    if aenv.engine == "postgresql":
        assert copies == [len(rows)]  # one COPY: every batch streamed


async def test_a_value_refused_in_a_late_batch_leaves_nothing_written(
    aenv: AioEnv, monkeypatch: pytest.MonkeyPatch, copies: list[int]
) -> None:
    rows = _rows(4 * BATCH)
    bad = 3 * BATCH + 7
    rows[bad] = {**rows[bad], "i": "seven"}
    async with aenv.connect() as db:
        monkeypatch.setattr(db.sync.features, "bulk_batch_size", BATCH)
        query = db.query(aenv.models.Sample)
        with pytest.raises(db_plugins.ValidationError) as refused:
            await query.bulk_insert(rows)
        assert str(refused.value).startswith(f"bulk_insert row {bad}: field 'i' of Sample expects")
        assert refused.value.row == bad
        assert gc.isenabled()  # (paused while the batches were read and sent)
        assert await query.count() == 0
        if aenv.engine == "postgresql":
            assert copies and copies[0] >= 3 * BATCH  # streamed up to the refused batch, then aborted
        # The connection goes on: the same rows, the bad one fixed, in one call.
        rows[bad]["i"] = 7
        assert await query.bulk_insert(rows) == len(rows)
        assert pool_state(db) in {(0,), (0, 0)}
    assert len(await _stored(aenv)) == len(rows)


async def test_a_duplicate_key_in_a_late_batch_leaves_nothing_written(
    aenv: AioEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _rows(3 * BATCH)
    rows[2 * BATCH + 1] = {**rows[2 * BATCH + 1], "id": 5}
    async with aenv.connect() as db:
        monkeypatch.setattr(db.sync.features, "bulk_batch_size", BATCH)
        query = db.query(aenv.models.Sample)
        with pytest.raises(db_plugins.DuplicateKeyError):
            await query.bulk_insert(rows)
        assert await query.count() == 0
        assert await query.bulk_insert(rows[:BATCH]) == BATCH
    assert len(await _stored(aenv)) == BATCH


async def test_an_edge_instant_or_another_shape_mid_stream_goes_the_usual_way(
    aenv: AioEnv, monkeypatch: pytest.MonkeyPatch, copies: list[int]
) -> None:
    """A batch holding the last instant (which asyncpg's codecs would send as 'infinity') is
    sent with the connection's codecs, a batch of rows giving other fields by the usual path:
    the stream ends before it and starts again after."""
    rows = _rows(6 * BATCH)
    rows[2 * BATCH + 3]["t"] = LAST
    for row in rows[4 * BATCH : 5 * BATCH]:
        del row["s"]
    async with aenv.connect() as db:
        monkeypatch.setattr(db.sync.features, "bulk_batch_size", BATCH)
        assert await db.query(aenv.models.Sample).bulk_insert(rows) == len(rows)
    stored = await _stored(aenv)
    assert stored == [(r["id"], r["i"], r["f"], r.get("s"), r["b"], r["t"]) for r in rows]
    assert stored[2 * BATCH + 3][5] == LAST
    if aenv.engine == "postgresql":
        # Batches 1-2 streamed, 3 (the edge) alone, 4 streamed; 5 (other fields) its own way;
        # 6 streamed again.
        assert copies[:3] == [2 * BATCH, BATCH, BATCH] and copies[-1] == BATCH


async def test_in_a_transaction_block_a_refused_value_leaves_the_block_usable(
    aenv: AioEnv, monkeypatch: pytest.MonkeyPatch, copies: list[int]
) -> None:
    """Inside the caller's transaction no stream is opened (an aborted COPY would leave the
    block's transaction unusable): the refused batch is refused before it is sent."""
    rows = _rows(3 * BATCH)
    rows[2 * BATCH + 1] = {**rows[2 * BATCH + 1], "f": "x"}
    async with aenv.connect() as db:
        monkeypatch.setattr(db.sync.features, "bulk_batch_size", BATCH)
        query = db.query(aenv.models.Sample)
        with pytest.raises(RuntimeError, match="roll back"):
            async with db.transaction():
                with pytest.raises(db_plugins.ValidationError, match=f"row {2 * BATCH + 1}: field 'f'"):
                    await query.bulk_insert(rows)
                await query.insert({"id": -1, "s": "after"})  # the block goes on
                assert (await query.find_one({"id": -1})).s == "after"
                raise RuntimeError("roll back")
        assert await query.count() == 0
    assert all(rows <= BATCH for rows in copies)  # no stream: batch by batch


async def test_values_at_the_edges_streamed_in_a_late_batch_are_stored_as_the_sync_api_stores_them(
    aenv: AioEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _rows(3 * BATCH)
    edges = [
        {"i": 2**63 - 1, "f": -0.0, "s": "𝄞 astral", "t": dt.datetime(2021, 3, 4, 5, 6, 7, 891011)},
        {"i": -(2**63), "f": 2.0**53 + 2, "s": "", "t": dt.datetime(1, 1, 1, 0, 0, 0, 1)},
        {"i": 0, "f": 5e-324, "s": "ünïcödé ✓", "t": dt.datetime(9999, 12, 31, 23, 59, 59, 999998)},
    ]
    for k, edge in enumerate(edges):
        rows[2 * BATCH + k].update(edge)
    async with aenv.connect() as db:
        monkeypatch.setattr(db.sync.features, "bulk_batch_size", BATCH)
        assert await db.query(aenv.models.Sample).bulk_insert(rows) == len(rows)
    streamed = await _stored(aenv)
    aenv.sync.query(aenv.models.Sample).delete(all=True)
    assert aenv.sync.query(aenv.models.Sample).bulk_insert(rows) == len(rows)
    assert streamed == await _stored(aenv)
    assert [row[1:4] for row in streamed[2 * BATCH : 2 * BATCH + 3]] == [
        (2**63 - 1, 0.0, "𝄞 astral"),
        (-(2**63), 2.0**53 + 2, ""),
        (0, 5e-324, "ünïcödé ✓"),
    ]
