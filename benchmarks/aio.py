"""The async column: the asyncio API (``db_plugins.connect_async``) against the raw async drivers.

Each operation runs our coroutine and the same work written with the async
driver our connection uses (read from the dialect at run time: asyncpg,
aiosqlite, MariaDB's ``SQLFeatures.async_driver``; pymongo's
``AsyncMongoClient``), taking turns on one event loop, as the sync suite does.
The throughput rows put one connection under concurrency: ``CONCURRENCY``
``find_one`` coroutines on one async connection against as many threads on one
sync connection.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import db_plugins

from .harness import CALLS, LATENCY, RATE, Result, Target, compare
from .models import COLUMNS, row, rows
from .raw import database_of

if TYPE_CHECKING:
    from .suite import Suite

#: Concurrent callers in the throughput rows.
CONCURRENCY = 100
#: The issue's targets: every async call within 1.5x the raw async driver, PostgreSQL's
#: bulk_insert at least 0.8x asyncpg's copy_records_to_table.
ASYNC_CALL = Target(1.5, "ratio")
ASYNC_PG_BULK_INSERT = Target(1.25, "ratio")


class RawAsyncSQL:
    """A DBAPI-style async driver (aiomysql, asyncmy): a write connection (explicit commits)
    and a read connection in autocommit, connected with the arguments SQLAlchemy's async
    dialect would use for the same URL."""

    placeholder = "%s"

    def __init__(self, module: Any, args: tuple[list[Any], dict[str, Any]]) -> None:
        self.module = module
        self.args = args
        cols = ", ".join(COLUMNS)
        marks = ", ".join([self.placeholder] * len(COLUMNS))
        self.insert_sql = f"INSERT INTO {{table}} ({cols}) VALUES ({marks})"
        self.select = f"SELECT {cols} FROM {{table}}"

    async def open(self) -> None:
        cargs, cparams = self.args
        self.write = await self.module.connect(*cargs, **cparams)
        self.read = await self.module.connect(*cargs, **cparams, autocommit=True)

    async def close(self) -> None:
        for conn in (self.write, self.read):
            conn.close()

    async def fetch(self, sql: str, params: tuple[Any, ...] = (), one: bool = False) -> Any:
        async with self.read.cursor() as cur:
            await cur.execute(sql, params)
            return await (cur.fetchone() if one else cur.fetchall())

    async def execute(self, sql: str, params: tuple[Any, ...]) -> None:
        async with self.read.cursor() as cur:
            await cur.execute(sql, params)

    async def bulk_insert(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        async with self.write.cursor() as cur:
            await cur.executemany(self.insert_sql.format(table=table), rows)
        await self.write.commit()

    async def find_one(self, table: str, key: int) -> Any:
        return await self.fetch(f"{self.select.format(table=table)} WHERE id = {self.placeholder}", (key,), one=True)

    async def page(self, table: str, offset: int, limit: int) -> list[dict[str, Any]]:
        found = await self.fetch(f"{self.select.format(table=table)} ORDER BY id LIMIT {limit} OFFSET {offset}")
        return [dict(zip(COLUMNS, r)) for r in found]

    async def get_or_create(self, table: str, values: tuple[Any, ...]) -> Any:
        found = await self.find_one(table, values[0])
        if found is not None:
            return found
        await self.execute(self.insert_sql.format(table=table), values)
        return values


class RawAiosqlite(RawAsyncSQL):
    """aiosqlite as its documentation shows it: ``async with db.execute(...) as cursor``."""

    placeholder = "?"

    async def open(self) -> None:
        cargs, cparams = self.args
        self.write = await self.module.connect(*cargs, **cparams)
        self.read = await self.module.connect(*cargs, **cparams, isolation_level=None)

    async def close(self) -> None:
        for conn in (self.write, self.read):
            await conn.close()

    async def fetch(self, sql: str, params: tuple[Any, ...] = (), one: bool = False) -> Any:
        async with self.read.execute(sql, params) as cur:
            return await (cur.fetchone() if one else cur.fetchall())

    async def execute(self, sql: str, params: tuple[Any, ...]) -> None:
        await self.read.execute(sql, params)

    async def bulk_insert(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        await self.write.executemany(self.insert_sql.format(table=table), rows)
        await self.write.commit()

    async def page(self, table: str, offset: int, limit: int) -> list[dict[str, Any]]:
        import datetime as dt

        # The stored text of a datetime, parsed: the same dicts as the other drivers'.
        parse = dt.datetime.fromisoformat
        found = await self.fetch(f"{self.select.format(table=table)} ORDER BY id LIMIT {limit} OFFSET {offset}")
        return [{**dict(zip(COLUMNS, r)), "created": parse(r[4])} for r in found]


class RawAsyncpg(RawAsyncSQL):
    """asyncpg: ``copy_records_to_table`` for bulk loads; ``fetchrow``/``fetch`` (statements it
    prepares and caches itself) for reads, outside any transaction."""

    placeholder = "$1"

    def __init__(self, module: Any, args: tuple[list[Any], dict[str, Any]]) -> None:
        super().__init__(module, args)
        marks = ", ".join(f"${i}" for i in range(1, len(COLUMNS) + 1))
        self.insert_sql = f"INSERT INTO {{table}} ({', '.join(COLUMNS)}) VALUES ({marks})"

    async def open(self) -> None:
        cargs, cparams = self.args
        self.conn = await self.module.connect(*cargs, **cparams)

    async def close(self) -> None:
        await self.conn.close()

    async def fetch(self, sql: str, params: tuple[Any, ...] = (), one: bool = False) -> Any:
        return await (self.conn.fetchrow(sql, *params) if one else self.conn.fetch(sql, *params))

    async def execute(self, sql: str, params: tuple[Any, ...]) -> None:
        await self.conn.execute(sql, *params)

    async def bulk_insert(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        await self.conn.copy_records_to_table(table, records=rows, columns=COLUMNS)

    async def page(self, table: str, offset: int, limit: int) -> list[dict[str, Any]]:
        found = await self.fetch(f"{self.select.format(table=table)} ORDER BY id LIMIT {limit} OFFSET {offset}")
        return [dict(r) for r in found]


class RawAsyncMongo:
    """pymongo's ``AsyncMongoClient`` on ready dicts (``_id`` = the key)."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def open(self) -> None:
        import pymongo

        self.client = pymongo.AsyncMongoClient(self.url)
        self.db = self.client[database_of(self.url)]

    async def close(self) -> None:
        await self.client.close()

    async def bulk_insert(self, collection: str, docs: list[dict[str, Any]]) -> None:
        await self.db[collection].insert_many(docs, ordered=False)

    async def find_one(self, collection: str, key: int) -> Any:
        return await self.db[collection].find_one({"_id": key})

    async def page(self, collection: str, offset: int, limit: int) -> list[Any]:
        return await self.db[collection].find({}, sort=[("_id", 1)], skip=offset, limit=limit).to_list()

    async def get_or_create(self, collection: str, doc: dict[str, Any]) -> Any:
        found = await self.find_one(collection, doc["_id"])
        if found is not None:
            return found
        await self.db[collection].insert_one(doc)
        return doc


def raw_async(engine: str, url: str) -> tuple[Any, str]:
    """The raw async reference for ``engine`` and the driver's name (the one our connection uses)."""
    if not engine.startswith("mongo"):
        import importlib

        import sqlalchemy as sa
        from sqlalchemy.ext.asyncio import create_async_engine

        from db_plugins.db.sql.aio import async_url

        target = async_url(sa.make_url(url))
        engine_ = create_async_engine(target)
        args = engine_.sync_engine.dialect.create_connect_args(target)
        driver = target.get_driver_name()
        classes = {"asyncpg": RawAsyncpg, "aiosqlite": RawAiosqlite}
        return classes.get(driver, RawAsyncSQL)(importlib.import_module(driver), args), driver
    return RawAsyncMongo(url), "pymongo AsyncMongoClient"


class AsyncSuite:
    """The async rows of one engine's run, sharing the sync suite's tables and checks."""

    def __init__(self, suite: Suite) -> None:
        self.suite = suite
        self.loop = asyncio.Runner()
        self.raw, self.driver = raw_async(suite.engine, suite.url)
        self.db = self.run(db_plugins.connect_async(suite.url))
        self.run(self.raw.open())
        self.q = {name: self.db.query(model) for name, model in suite.models.items()}

    def run(self, coro: Awaitable[Any]) -> Any:
        return self.loop.run(coro)  # type: ignore[arg-type]

    def timed(self, fn: Callable[[], Awaitable[Any]]) -> Callable[[], Any]:
        """A sync callable for :func:`~benchmarks.harness.compare`: one run of ``fn`` on the loop."""
        return lambda: self.run(fn())

    def close(self) -> None:
        try:
            self.run(self.raw.close())
            self.run(self.db.close())
        finally:
            self.loop.close()

    def add(self, name: str, unit: str, work: int, ours: list[float], raw: list[float], target: Target | None) -> None:
        self.suite.add(Result(f"{name} (async)", self.suite.engine, unit, work, ours, raw, target=target))

    def compare(self, ours: Callable[[], Awaitable[Any]], raw: Callable[[], Awaitable[Any]], **options: Any) -> Any:
        return compare(self.timed(ours), self.timed(raw), self.suite.sizes.repeat, **options)

    # -- the operations ----------------------------------------------------------------

    def go(self) -> None:
        s = self.suite
        s.note(f"async raw = {self.driver}")
        if s.wanted("bulk_insert"):
            self.bulk_insert()
        if s.wanted("paginate"):
            self.paginate()
        if s.wanted("get_or_create"):
            self.get_or_create()
        if s.wanted("find_one"):
            self.find_one()
            self.throughput()

    def bulk_insert(self) -> None:
        s = self.suite
        n = s.sizes.rows
        ours_rows, raw_rows = rows(0, n), s.data(0, n)
        q, table = self.q["write"], s.tables["write"]

        async def ours() -> None:
            s.expect("async bulk_insert", await q.bulk_insert(ours_rows), n)

        def check(side: str) -> None:
            s.expect(f"async bulk_insert rows ({side})", s.raw.count(table), n)
            s.expect(f"async bulk_insert last row ({side})", s.raw_field(table, n - 1, "oid"), row(n - 1)["oid"])

        times = self.compare(
            ours, lambda: self.raw.bulk_insert(table, raw_rows), setup=lambda side: s.raw.truncate(table), check=check
        )
        target = ASYNC_PG_BULK_INSERT if s.engine == "postgresql" else ASYNC_CALL
        self.add(f"bulk_insert {n:,} rows", RATE, n, times.ours, times.raw, target)

    def paginate(self) -> None:
        s = self.suite
        q, table, calls = self.q["read"], s.tables["read"], s.sizes.page_calls
        key = "id" if s.sql else "_id"
        page = self.run(q.paginate(page=1, per_page=100, count=False))
        s.expect("async paginate page 1", [item.id for item in page.items[:1]], [0])
        raw_page = self.run(self.raw.page(table, 0, 101))
        s.expect("async paginate page 1 (raw)", (raw_page[0][key], len(raw_page)), (0, min(101, s.sizes.read_rows)))

        async def ours() -> None:
            for _ in range(calls):
                await q.paginate(page=1, per_page=100, count=False)

        async def raw() -> None:
            for _ in range(calls):
                await self.raw.page(table, 0, 101)

        times = self.compare(ours, raw)
        self.add("paginate page 1", LATENCY, calls, times.ours, times.raw, ASYNC_CALL)

    def get_or_create(self) -> None:
        s = self.suite
        q, table = self.q["goc"], s.tables["goc"]
        loaded = s.load_goc()
        calls = s.sizes.goc_calls
        hits = [random.Random(8).randrange(loaded) for _ in range(calls)]
        counter = {"ours": 4 * 10**8, "raw": 5 * 10**8}
        first = dict(counter)

        async def ours(keys: list[int]) -> None:
            for k in keys:
                values = row(k)
                instance, _ = await q.get_or_create({"id": values.pop("id")}, **values)
                assert instance.id == k

        async def raw(keys: list[int]) -> None:
            for k in keys:
                await self.raw.get_or_create(table, s.data(k, 1)[0])

        def fresh(side: str) -> list[int]:
            start = counter[side]
            counter[side] += calls
            return list(range(start, start + calls))

        before = s.q["goc"].count()
        times = self.compare(lambda: ours(hits), lambda: raw(hits))
        s.expect("async get_or_create hits add nothing", s.q["goc"].count(), before)
        self.add("get_or_create hit", LATENCY, calls, times.ours, times.raw, ASYNC_CALL)
        times = self.compare(lambda: ours(fresh("ours")), lambda: raw(fresh("raw")))
        s.expect("async get_or_create misses", s.q["goc"].count() - before, 2 * calls * s.sizes.repeat)
        for side, end in counter.items():
            if end != first[side]:
                s.expect(f"async get_or_create miss ({side})", s.raw_field(table, end - 1, "oid"), row(end - 1)["oid"])
        self.add("get_or_create miss", LATENCY, calls, times.ours, times.raw, ASYNC_CALL)

    def find_keys(self, count: int, seed: int) -> list[int]:
        rng = random.Random(seed)
        return [rng.randrange(self.suite.sizes.read_rows) for _ in range(count)]

    def find_one(self) -> None:
        s = self.suite
        q, table = self.q["read"], s.tables["read"]
        keys = self.find_keys(s.sizes.find_calls, 9)
        s.expect("async find_one", self.run(q.find_one({"id": keys[0]})).id, keys[0])
        found = self.run(self.raw.find_one(table, keys[0]))
        s.expect("async find_one (raw)", found[COLUMNS.index("oid")] if s.sql else found["oid"], row(keys[0])["oid"])

        async def ours() -> None:
            for k in keys:
                await q.find_one({"id": k})

        async def raw() -> None:
            for k in keys:
                await self.raw.find_one(table, k)

        times = self.compare(ours, raw)
        self.add("find_one by key", LATENCY, len(keys), times.ours, times.raw, ASYNC_CALL)

    def throughput(self) -> None:
        """``find_one`` by key from ``CONCURRENCY`` coroutines on our async connection, against as
        many threads on our sync connection: calls per second, and the ratio of the two times."""
        s = self.suite
        calls = max(s.sizes.find_calls, CONCURRENCY)
        keys = self.find_keys(calls, 10)
        chunks = [keys[i::CONCURRENCY] for i in range(CONCURRENCY)]
        sync_q, async_q = s.q["read"], self.q["read"]

        def thread_worker(chunk: list[int]) -> None:
            for k in chunk:
                assert sync_q.find_one({"id": k}).id == k

        async def coroutine_worker(chunk: list[int]) -> None:
            for k in chunk:
                assert (await async_q.find_one({"id": k})).id == k

        async def coroutines() -> None:
            await asyncio.gather(*(coroutine_worker(chunk) for chunk in chunks))

        with ThreadPoolExecutor(CONCURRENCY) as pool:

            def threads() -> None:
                list(pool.map(thread_worker, chunks))

            threads()  # the threads exist (and the pools are filled) before the first timed run
            self.run(coroutines())
            times = compare(self.timed(coroutines), threads, s.sizes.repeat)
        threaded = f"find_one, {CONCURRENCY} threads on one connection (sync)"
        s.add(Result(threaded, s.engine, CALLS, calls, times.raw))
        s.add(
            Result(
                f"find_one, {CONCURRENCY} coroutines on one connection (async)",
                s.engine,
                CALLS,
                calls,
                times.ours,
                target=Target(None, f"vs:{threaded}"),
            )
        )
