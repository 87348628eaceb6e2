"""SQL reads on the asyncio API run on the async driver's own connection (DriverReadPool).

A statement's first run goes through SQLAlchemy's DBAPI adapter (its cursor description
gives the result processors); every later run sends the compiled SQL to the driver
connection directly. What the adapter did must still happen: the same values, the same
db_plugins errors with the driver's error chained, a cancelled read's connection given up.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

import db_plugins
from db_plugins.db.base.bridge import spawn
from db_plugins.db.sql.aio import DriverReadPool
from db_plugins.db.sql.execute import ReadPool
from tests.aio.conftest import AioEnv
from tests.aio.test_cancellation import pool_state
from tests.servers import SQL_ENGINES

pytestmark = pytest.mark.parametrize("aio_database", SQL_ENGINES, indirect=True)

UTC = dt.UTC
SAMPLES = [
    {"id": 1, "i": 2**63 - 1, "f": 1e308, "s": "ünïcödé ✓", "b": True, "t": dt.datetime(1, 1, 1)},
    {"id": 2, "i": -(2**63), "f": 0.1, "s": "", "b": False, "t": dt.datetime(9999, 12, 31, 23, 59, 59, 999999)},
    {"id": 3, "i": None, "f": None, "s": None, "b": None, "t": dt.datetime(2020, 5, 17, 1, 2, 3, 456789)},
]
MOMENTS = [
    {
        "id": 1,
        "t": dt.datetime(2021, 3, 4, 5, 6, 7, 891011),
        "t0": dt.datetime(2021, 3, 4, 5, 6, 7),
        "tz": dt.datetime(2021, 3, 4, 5, 6, 7, 123456, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
    },
    {"id": 2, "t": None, "t0": None, "tz": dt.datetime(1, 1, 1, tzinfo=UTC)},
]
PRICES = [{"id": 1, "amount": Decimal("12345678901.1234")}, {"id": 2, "amount": Decimal("-0.0001")}]


def _shape(instance: Any, fields: list[str]) -> list[tuple[str, Any, Any]]:
    """Each field's type, value and (datetimes) offset: what must not differ between the paths."""
    out = []
    for name in fields:
        value = getattr(instance, name)
        offset = value.utcoffset() if isinstance(value, dt.datetime) else None
        out.append((type(value).__name__, value, offset))
    return out


def _adapter_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements read through the DBAPI adapter's cursor from now on, in order."""
    seen: list[str] = []
    through_cursor = ReadPool.read

    def read(self: ReadPool, raw: Any, compiled: Any, params: Any) -> Any:
        seen.append(compiled.sql)
        return through_cursor(self, raw, compiled, params)

    monkeypatch.setattr(ReadPool, "read", read)
    return seen


async def test_reads_after_a_statements_first_skip_the_adapter(aenv: AioEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = _adapter_reads(monkeypatch)
    async with aenv.connect() as db:
        assert isinstance(db.sync.read_pool, DriverReadPool)
        query = db.query(aenv.models.Item)
        await query.bulk_insert([{"oid": f"o{i}", "n": i, "mag": i / 2} for i in range(12)])

        async def reads() -> None:
            assert (await query.find_one({"oid": "o3"})).n == 3
            page = await query.paginate(per_page=5, order_by="-mag", filter_by={"n": {"$gte": 2}})
            assert [i.n for i in page] == [11, 10, 9, 8, 7]
            assert page.total == 10
            assert await query.count({"mag": {"$lt": 2}}) == 4

        await reads()
        first = len(adapter)
        assert first >= 3  # each statement's first run: find_one, the page, its total, count
        for _ in range(3):
            await reads()
        assert len(adapter) == first, "\n".join(
            s.replace("\n", " ") for s in adapter
        )  # later runs: straight on the driver


async def test_values_read_on_the_driver_equal_the_adapters_and_the_sync_apis(aenv: AioEnv) -> None:
    """Result processors (datetimes, Decimal, booleans) and bind processors (datetime and
    Decimal filters) give the same values on every path, at the types' edges."""
    models = aenv.models
    cases = [(models.Sample, SAMPLES, "t"), (models.Moment, MOMENTS, "tz"), (models.Price, PRICES, "amount")]
    for model, rows, _ in cases:
        sync = aenv.sync.query(model)
        await asyncio.to_thread(sync.delete, all=True)
        await asyncio.to_thread(sync.bulk_insert, rows)
    async with aenv.connect() as db:
        for model, rows, field in cases:
            fields = list(rows[0])
            sync = aenv.sync.query(model)
            query = db.query(model)
            for row in rows:
                expected = _shape(await asyncio.to_thread(sync.find_one, {"id": row["id"]}), fields)
                for _ in range(2):  # the adapter's run, then the driver's
                    assert _shape(await query.find_one({"id": row["id"]}), fields) == expected
                    # Filtering by the value: its bind processor, on the general path.
                    found = await query.find_one({field: getattr(await query.find_one({"id": row["id"]}), field)})
                    assert _shape(found, fields) == expected
            expected_page = [_shape(i, fields) for i in await asyncio.to_thread(sync.paginate, per_page=10)]
            for _ in range(2):
                assert [_shape(i, fields) for i in await query.paginate(per_page=10)] == expected_page


async def test_a_driver_error_on_a_direct_read_is_the_sync_apis_error(aenv: AioEnv) -> None:
    models = aenv.models
    sync = aenv.sync.query(models.Sample)
    await asyncio.to_thread(sync.delete, all=True)
    await asyncio.to_thread(sync.bulk_insert, SAMPLES[:1])
    async with aenv.connect() as db:
        query = db.query(models.Sample)
        for _ in range(2):
            assert (await query.find_one({"id": 1})).b is True
        table = models.Sample.__table__
        await asyncio.to_thread(table.drop, aenv.sync.engine)
        try:
            with pytest.raises(db_plugins.DBPluginsError) as expected:
                await asyncio.to_thread(sync.find_one, {"id": 1})
            with pytest.raises(db_plugins.DBPluginsError) as raised:
                await query.find_one({"id": 1})
        finally:
            await asyncio.to_thread(aenv.sync.create_db)
        error = raised.value
        assert (type(error), str(error)) == (type(expected.value), str(expected.value))
        # The native error chained: SQLAlchemy's, whose cause chain reaches the driver's own.
        assert isinstance(error.__cause__, sa.exc.DBAPIError)
        chain, cause = [], error.__cause__.orig
        while cause is not None:
            chain.append(type(cause).__module__.partition(".")[0])
            cause = cause.__cause__
        assert {"asyncpg", "sqlite3", "pymysql"} & set(chain), chain
        # The table again (a new one to the server): read as before, the driver's cached
        # statement renewed.
        await asyncio.to_thread(sync.bulk_insert, SAMPLES[1:2])
        for _ in range(2):
            assert (await query.find_one({"id": 2})).b is False
        assert await query.find_one({"id": 1}) is None


#: Where to cancel a read: after 0..6 loop steps, then after short delays (the driver's call in flight).
DELAYS: tuple[float | int, ...] = (0, 1, 2, 3, 4, 5, 6, 0.0005, 0.001, 0.002, 0.004)


async def test_a_cancelled_direct_read_gives_up_its_connection(aenv: AioEnv) -> None:
    await asyncio.to_thread(
        aenv.sync.query(aenv.models.Item).bulk_insert, [{"oid": f"o{i}", "n": i} for i in range(50)]
    )
    async with aenv.connect() as db:
        query = db.query(aenv.models.Item)
        given_up: list[Any] = []
        sa.event.listen(db.sync.read_engine, "invalidate", lambda *args: given_up.append(args[2]))
        assert (await query.find_one({"oid": "o1"})).n == 1  # the adapter's run
        before = pool_state(db)
        in_flight = 0
        for _ in range(5):
            for delay in DELAYS:
                task = asyncio.ensure_future(query.find_one({"oid": "o7"}))
                if isinstance(delay, int):
                    for _ in range(delay):
                        await asyncio.sleep(0)
                else:
                    await asyncio.sleep(delay)
                task.cancel()
                invalidated = len(given_up)
                with contextlib.suppress(asyncio.CancelledError):
                    assert (await task).n == 7
                in_flight += len(given_up) - invalidated
                assert pool_state(db) == before, delay
                # The next read works (on another connection when this one was given up).
                assert (await query.find_one({"oid": "o9"})).n == 9
            if in_flight:
                break
        assert in_flight, "no read was cancelled while the driver had it"
        assert all(isinstance(reason, asyncio.CancelledError) for reason in given_up)


async def test_an_insert_returning_runs_on_the_read_pool_and_a_duplicate_is_refused(aenv: AioEnv) -> None:
    """``Executor.run`` takes any compiled statement that returns rows: an ``INSERT … RETURNING``
    commits at once on the read pool's autocommit connections, on the driver's path as on the
    adapter's, and a unique violation is a DuplicateKeyError with the driver's error chained."""
    async with aenv.connect() as db:
        if not db.sync.read_engine.dialect.insert_returning:
            pytest.skip(f"{aenv.engine}: no INSERT … RETURNING on this server")
        table = aenv.models.Item.__table__
        stmt = sa.insert(table).values(oid=sa.bindparam("oid"), n=sa.bindparam("n")).returning(table.c.oid, table.c.n)
        executor = db.sync.executor
        compiled = await spawn(executor.prepare, stmt)
        for i in range(3):  # the adapter's run, then the driver's
            rows = await spawn(executor.run, compiled, {**compiled.defaults, "oid": f"r{i}", "n": i})
            assert [tuple(row) for row in rows] == [(f"r{i}", i)]
        with pytest.raises(db_plugins.DuplicateKeyError) as info:
            await spawn(executor.run, compiled, {**compiled.defaults, "oid": "r1", "n": 9})
        assert isinstance(info.value.__cause__, sa.exc.IntegrityError)
    stored = await asyncio.to_thread(aenv.sync.query(aenv.models.Item).paginate, order_by="oid")
    assert [(i.oid, i.n) for i in stored] == [("r0", 0), ("r1", 1), ("r2", 2)]


async def test_postgresql_reads_with_asyncpgs_own_codecs_give_the_connections_values(aenv: AioEnv) -> None:
    """A statement whose types asyncpg's C codecs read as the connection's do is read with
    them; one with a timestamptz column is not. Stored infinities read as on the sync API,
    and a filter at the last datetime (which asyncpg's codecs send as 'infinity') keeps the
    connection's codecs: it finds its row."""
    if aenv.engine != "postgresql":
        pytest.skip("asyncpg's codecs: PostgreSQL only")
    models = aenv.models
    for model in (models.Sample, models.Moment):
        await asyncio.to_thread(aenv.sync.query(model).delete, all=True)
    with aenv.sync.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO samples (id, t) VALUES (1, 'infinity'), (2, '-infinity')"))
        conn.execute(sa.text("INSERT INTO moments (id, tz) VALUES (1, 'infinity'), (2, '-infinity')"))
    last = dt.datetime.max
    await asyncio.to_thread(aenv.sync.query(models.Sample).insert, {"id": 3, "t": last})
    async with aenv.connect() as db:
        for model, field in ((models.Sample, "t"), (models.Moment, "tz")):
            sync = aenv.sync.query(model)
            query = db.query(model)
            for key in (1, 2, 3):
                expected = await asyncio.to_thread(sync.find_one, {"id": key})
                for _ in range(2):  # the adapter's run, then the driver's
                    found = await query.find_one({"id": key})
                    assert (found is None) == (expected is None)
                    if found is not None:
                        assert _shape(found, [field]) == _shape(expected, [field])
        by_key = {model: db.query(model).sync._by_fields[("id",)] for model in (models.Sample, models.Moment)}
        assert (by_key[models.Sample].native, by_key[models.Moment].native) == (True, False)
        samples = db.query(models.Sample)
        for _ in range(2):
            page = await samples.paginate(filter_by={"t": last}, per_page=10, count=False)
            assert [s.id for s in page] == [3]  # sent as itself: the stored 'infinity' is not equal
            page = await samples.paginate(filter_by={"t": {"$gt": dt.datetime(9000, 1, 1)}}, per_page=10)
            assert [s.id for s in page] == [1, 3]
