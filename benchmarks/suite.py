"""Every operation on one engine: ours (``db.query(Model)``) against the raw driver and plain code.

The same suite runs on SQL and Mongo engines: the query interface is the same,
and :mod:`benchmarks.raw` gives both kinds of raw reference the same methods
(tables or collections; tuples or ready dicts). :mod:`benchmarks.plain` is the
third side: the same work as a user would write it without us (SQLAlchemy's
ORM, a ``Session`` per call; on Mongo, pymongo, which the raw side already is).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import db_plugins

from .databases import SQL_ENGINES
from .harness import LATENCY, RATE, SIZE, Result, Target, Times, compare
from .models import COLUMNS, SQL_MODELS, Base, mongo_models, row, rows, tuples
from .plain import PlainSQL, plain_mongo_bulk_insert, plain_sql
from .raw import RawMongo, database_of, raw_sql

PER_PAGE = 100
COUNT_CAP = 10_000
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Sizes:
    """How much work each operation does in one timed run."""

    rows: int  # bulk_insert rows
    upsert_rows: int  # rows of the upsert / ignore workloads (a tenth of them for bulk_update)
    read_rows: int  # rows in the read table (paginate, count, find_one, stream)
    repeat: int
    find_calls: int
    goc_calls: int
    page_calls: int
    count_calls: int
    stream_repeat: int

    @property
    def update_rows(self) -> int:
        return max(1, self.upsert_rows // 10)

    @property
    def depth(self) -> int:
        """The deep page's first row: 90% into the read table, on a page boundary."""
        return max(PER_PAGE, int(self.read_rows * 0.9) // PER_PAGE * PER_PAGE)


class Suite:
    """One engine's database, our connection, the raw and plain references, and the results."""

    def __init__(
        self,
        engine: str,
        url: str,
        sizes: Sizes,
        log: Callable[[str], None],
        only: list[str],
        apis: tuple[str, ...] = ("sync", "async"),
    ) -> None:
        self.engine = engine
        self.apis = apis
        self.url = url
        self.sizes = sizes
        self.log = log
        self.only = only
        self.sql = engine in SQL_ENGINES
        # A read by key (find_one, get_or_create hit) against the raw driver's: a server's
        # round trip dominates both, SQLite's in-process call is a few microseconds.
        self.key_read = Target({"postgresql": 1.3, "mysql": 1.3, "sqlite": 3.0}.get(engine, 1.5), "ratio")
        self.results: list[Result] = []
        self.db = db_plugins.connect(url)
        # Mongo has no plain side of its own: the raw side is pymongo as users write it
        # (see benchmarks.plain), so its times are the plain column too.
        self.plain: PlainSQL | None = None
        if self.sql:
            Base.metadata.create_all(self.db.engine)
            self.models = SQL_MODELS
            self.raw: Any = raw_sql(engine, url)
            self.plain = plain_sql(engine, url)
        else:
            self.models = mongo_models()
            if engine == "mongomock":
                # The data lives in this process: the raw side must use the same client.
                self.raw = RawMongo(self.db.client, database_of(url), bulk_write=False)
            else:
                self.raw = RawMongo.connect(url)
        self.q = {name: self.db.query(model) for name, model in self.models.items()}
        self.notes: list[str] = []
        self.tables = {name: f"bench_{name}" for name in self.models}
        self.goc_loaded = 0

    def close(self) -> None:
        if getattr(self.raw, "client", None) is not getattr(self.db, "client", None) or self.sql:
            self.raw.close()
        if self.plain is not None:
            self.plain.close()
        self.db.close()

    # -- helpers ---------------------------------------------------------------------

    def data(self, start: int, count: int, **changes: Any) -> list[Any]:
        """Rows ready for the raw driver: tuples (SQL) or documents keyed by ``_id`` (Mongo)."""
        if self.sql and not changes:
            return tuples(start, count)
        ready = [{**r, **changes} for r in rows(start, count)]
        return [tuple(r.values()) for r in ready] if self.sql else [RawMongo.doc(r) for r in ready]

    def wanted(self, operation: str) -> bool:
        return not self.only or any(operation.startswith(prefix) for prefix in self.only)

    def add(self, result: Result) -> Result:
        self.results.append(result)
        self.log(
            f"  {result.operation:<40} ours {result.shown(result.ours):>12}  raw {result.shown(result.raw):>12}"
            f"  plain {result.shown(result.plain):>12}"
        )
        return result

    def note(self, text: str) -> None:
        self.notes.append(f"{self.engine}: {text}")
        self.log(f"  note: {text}")

    def expect(self, what: str, got: Any, want: Any) -> None:
        """A benchmark that did not do its work measures nothing: stop."""
        if got != want:
            raise AssertionError(f"{self.engine} {what}: expected {want!r}, got {got!r}")

    def compare(
        self,
        ours: Callable[[], Any],
        raw: Callable[[], Any],
        plain: Callable[[], Any],
        mongo_plain: Callable[[], Any] | None = None,
        repeat: int | None = None,
        **options: Any,
    ) -> Times:
        """:func:`~benchmarks.harness.compare` with the plain side: ``plain`` on SQL engines;
        on Mongo ``mongo_plain`` where pymongo as users write it differs from the raw side,
        else the raw side's times (the same measurement, not a second one)."""
        plain_fn = plain if self.sql else mongo_plain
        times = compare(ours, raw, self.sizes.repeat if repeat is None else repeat, plain=plain_fn, **options)
        return times if plain_fn is not None else times._replace(plain=list(times.raw))

    def raw_field(self, table: str, key: int, name: str) -> Any:
        """One field of one row, read through the raw driver (to check what a side wrote)."""
        found = self.raw.find_one(table, key)
        if found is None:
            return None
        return found[COLUMNS.index(name)] if self.sql else found[name]

    # -- the operations ----------------------------------------------------------------

    def run(self) -> list[Result]:
        s = self.sizes
        sync = "sync" in self.apis
        if not self.sql and sync:
            self.note(
                "plain = raw (pymongo as users write it; one measurement) except bulk_insert, "
                "where plain is insert_many with its default ordered=True"
            )
        if sync and self.wanted("bulk_insert"):
            self.bulk_insert()
        if sync and self.sql is False and getattr(self.raw, "update_chunk", None):
            self.note(
                f"updates go {self.raw.update_chunk} per bulk_write on both sides: FerretDB 1.24 never answers "
                "a bulk_write of 100 or more updates"
            )
        if sync and (self.wanted("upsert") or self.wanted("bulk_insert ignore")):
            self.upserts()
        if sync and self.wanted("bulk_update"):
            self.bulk_update()
        reads = ("paginate", "count", "find_one", "stream", "get_or_create")
        if any(self.wanted(op) for op in reads):
            self.log(f"  loading {s.read_rows:,} rows into bench_read")
            self.q["read"].bulk_insert(row(i) for i in range(s.read_rows))
            self.expect("read table", self.q["read"].count(), s.read_rows)
            self.raw.analyze(self.tables["read"])
        if sync and self.wanted("paginate"):
            self.paginate()
        if sync and self.wanted("count"):
            self.count()
        if sync and self.wanted("get_or_create"):
            self.get_or_create()
        if sync and self.wanted("find_one"):
            self.find_one()
        if sync and self.wanted("stream"):
            if self.engine == "mongomock":
                self.note("stream skipped: mongomock's data lives in this process, a fresh one would see none")
            else:
                self.stream()
        if "async" in self.apis:
            self.run_async()
        return self.results

    def run_async(self) -> None:
        """The async column (:mod:`benchmarks.aio`): our asyncio API against the raw async driver."""
        if self.engine == "mongomock":
            self.note("async skipped: mongomock has no async driver to compare with")
            return
        try:
            from .aio import AsyncSuite

            runner = AsyncSuite(self)
        except ImportError as exc:
            self.note(f"async skipped: {exc} (pip install 'db-plugins[async]')")
            return
        try:
            runner.go()
        finally:
            runner.close()

    def load_goc(self) -> int:
        """Rows 0..n of the get_or_create table (loaded once; the hits read them); n."""
        if not self.goc_loaded:
            self.goc_loaded = min(self.sizes.read_rows, 10_000)
            self.raw.bulk_insert(self.tables["goc"], self.data(0, self.goc_loaded))
        return self.goc_loaded

    def bulk_insert(self) -> None:
        n = self.sizes.rows
        ours_rows, raw_rows = rows(0, n), self.data(0, n)
        q, table, model = self.q["write"], self.tables["write"], self.models["write"]

        def check(side: str) -> None:
            self.expect(f"bulk_insert rows ({side})", self.raw.count(table), n)
            self.expect(f"bulk_insert last row ({side})", self.raw_field(table, n - 1, "oid"), row(n - 1)["oid"])

        ours, raw, plain = self.compare(
            lambda: self.expect("bulk_insert", q.bulk_insert(ours_rows), n),
            lambda: self.raw.bulk_insert(table, raw_rows),
            lambda: self.plain.bulk_insert(model, ours_rows),
            mongo_plain=lambda: plain_mongo_bulk_insert(self.raw.db, table, raw_rows),
            setup=lambda side: self.raw.truncate(table),
            check=check,
        )
        self.add(
            Result(
                f"bulk_insert {n:,} rows", self.engine, RATE, n, ours, raw, target=Target(1.25, "ratio"), plain=plain
            )
        )

    def upserts(self) -> None:
        """``on_conflict="update"`` and ``"ignore"`` over a table already holding every other key."""
        n = self.sizes.upsert_rows
        q, table, model = self.q["write"], self.tables["write"], self.models["write"]
        existing = self.data(0, n)[::2]
        ours_rows = [{**r, "mag": r["mag"] + 1, "ndet": r["ndet"] + 1} for r in rows(0, n)]
        raw_rows = self.data(0, n)
        raw_rows = [
            (*r[:2], r[2] + 1, r[3] + 1, r[4]) if self.sql else {**r, "mag": r["mag"] + 1, "ndet": r["ndet"] + 1}
            for r in raw_rows
        ]

        def setup(side: str) -> None:
            self.raw.truncate(table)
            self.raw.bulk_insert(table, existing)

        for mode, name, target in (
            ("update", f"upsert {n:,} rows, half existing", Target(2.0, "ratio")),
            ("ignore", f"bulk_insert ignore {n:,} rows, half existing", Target(2.0, "ratio")),
        ):
            if not self.wanted(name.split(" ", 1)[0]) and not self.wanted(name):
                continue
            want = n if mode == "update" else n - len(existing)
            # Row 0 existed (updated or kept), the last odd row is new (written with ndet + 1).
            kept = row(0)["ndet"] + (1 if mode == "update" else 0)
            last = n - 1 if (n - 1) % 2 else n - 2

            def check(side: str, mode: str = mode, kept: int = kept, last: int = last) -> None:
                self.expect(f"{mode} rows ({side})", self.raw.count(table), n)
                self.expect(f"{mode} existing row ({side})", self.raw_field(table, 0, "ndet"), kept)
                if n > 1:
                    self.expect(f"{mode} new row ({side})", self.raw_field(table, last, "ndet"), row(last)["ndet"] + 1)

            ours, raw, plain = self.compare(
                lambda mode=mode, want=want: self.expect(mode, q.bulk_insert(ours_rows, on_conflict=mode), want),
                lambda mode=mode: self.raw.upsert(table, raw_rows, mode),
                lambda mode=mode: self.plain.upsert(model, ours_rows, mode),
                setup=setup,
                check=check,
            )
            self.add(Result(name, self.engine, RATE, n, ours, raw, target=target, plain=plain))

    def bulk_update(self) -> None:
        n = self.sizes.update_rows
        q, table, model = self.q["write"], self.tables["write"], self.models["write"]
        state: dict[str, Any] = {"run": 0}

        def setup(side: str) -> None:
            self.raw.truncate(table)
            self.raw.bulk_insert(table, self.data(0, n))
            state["run"] += 1
            state["instances"] = list(q.find_all(paginate=False)) if side == "ours" else None

        def check(side: str) -> None:
            self.expect(f"bulk_update ({side})", self.raw_field(table, n - 1, "mag"), (n - 1) * 0.5 + state["run"])

        def ours() -> None:
            attrs = [{"mag": i * 0.5 + state["run"]} for i in range(n)]
            self.expect("bulk_update", q.bulk_update(state["instances"], attrs), n)

        def raw() -> None:
            self.raw.bulk_update(table, [(i * 0.5 + state["run"], i) for i in range(n)])

        def plain() -> None:
            self.plain.bulk_update(model, [{"id": i, "mag": i * 0.5 + state["run"]} for i in range(n)])

        ours_t, raw_t, plain_t = self.compare(ours, raw, plain, setup=setup, check=check)
        self.add(Result(f"bulk_update {n:,} rows", self.engine, RATE, n, ours_t, raw_t, plain=plain_t))

    def paginate(self) -> None:
        s = self.sizes
        q, table, model = self.q["read"], self.tables["read"], self.models["read"]
        calls, depth = s.page_calls, s.depth
        before = q.paginate(page=depth // PER_PAGE, per_page=PER_PAGE, count=False)
        cursor = before.next_cursor
        self.expect("keyset cursor", before.items[-1].id, depth - 1)
        key = "id" if self.sql else "_id"

        def repeat(fn: Callable[[], Any]) -> Callable[[], None]:
            return lambda: [fn() for _ in range(calls)] and None

        def raw_counted() -> tuple[list[Any], int]:
            return self.raw.page(table, 0, PER_PAGE + 1), self.raw.count(table)

        # (name, ours, raw, plain, first key, total, target): every side fetches one row
        # more than the page, as ours does to know whether there is a next page.
        cases = [
            (
                "paginate page 1",
                lambda: q.paginate(page=1, per_page=PER_PAGE, count=False),
                lambda: self.raw.page(table, 0, PER_PAGE + 1),
                lambda: self.plain.page(model, 0, PER_PAGE + 1)[0],
                0,
                None,
                Target(1.5, "ratio"),
            ),
            (
                "paginate page 1, with count",
                lambda: q.paginate(page=1, per_page=PER_PAGE, count=True),
                raw_counted,
                lambda: self.plain.page(model, 0, PER_PAGE + 1, count=True),
                0,
                s.read_rows,
                Target(1.5, "ratio"),
            ),
            (
                f"paginate offset, row {depth:,}",
                lambda: q.paginate(page=depth // PER_PAGE + 1, per_page=PER_PAGE, count=False),
                lambda: self.raw.page(table, depth, PER_PAGE + 1),
                lambda: self.plain.page(model, depth, PER_PAGE + 1)[0],
                depth,
                None,
                None,
            ),
            (
                f"paginate keyset, row {depth:,}",
                lambda: q.paginate(per_page=PER_PAGE, count=False, after=cursor),
                lambda: self.raw.keyset(table, depth - 1, PER_PAGE + 1),
                lambda: self.plain.keyset(model, depth - 1, PER_PAGE + 1),
                depth,
                None,
                Target(1.5, "vs:paginate page 1"),
            ),
        ]
        # Each side's first page proves it reads what ours reads (plain and raw's count too).
        for name, ours_fn, raw_fn, plain_fn, first_key, total, _target in cases:
            ours_page = ours_fn()
            self.expect(name, (ours_page.items[0].id, ours_page.total), (first_key, total))
            want = (first_key, min(PER_PAGE + 1, s.read_rows - first_key), total)
            raw_page = raw_fn()
            raw_items, raw_total = raw_page if total is not None else (raw_page, None)
            self.expect(f"{name} (raw)", (raw_items[0][key], len(raw_items), raw_total), want)
            if self.sql:
                plain_page = plain_fn()
                plain_items, plain_total = plain_page if total is not None else (plain_page, None)
                self.expect(f"{name} (plain)", (plain_items[0].id, len(plain_items), plain_total), want)
        # The cases take turns within each repeat: the keyset target compares two of
        # our timings, which must see the same machine load.
        times = [Times([], [], []) for _ in cases]
        for n in range(s.repeat):
            for (_, ours_fn, raw_fn, plain_fn, *_), acc in zip(cases, times):
                got = self.compare(repeat(ours_fn), repeat(raw_fn), repeat(plain_fn), repeat=1, first=n)
                for mine, more in zip(acc, got):
                    mine.extend(more)
        for (name, *_, target), (ours, raw, plain) in zip(cases, times):
            self.add(Result(name, self.engine, LATENCY, calls, ours, raw, target=target, plain=plain))

    def count(self) -> None:
        s = self.sizes
        q, table, model = self.q["read"], self.tables["read"], self.models["read"]
        calls = s.count_calls
        cap = min(COUNT_CAP, s.read_rows // 2)
        cases = (
            ("count", lambda: q.count(), lambda: self.raw.count(table), lambda: self.plain.count(model), s.read_rows),
            (
                f"count max_results={cap:,}",
                lambda: q.count(max_results=cap),
                lambda: self.raw.count(table, cap),
                lambda: self.plain.count(model, cap),
                cap,
            ),
        )
        for name, ours_fn, raw_fn, plain_fn, want in cases:
            self.expect(name, ours_fn(), want)
            self.expect(f"{name} (raw)", raw_fn(), want)
            if self.sql:
                self.expect(f"{name} (plain)", plain_fn(), want)
            ours, raw, plain = self.compare(
                lambda fn=ours_fn: [fn() for _ in range(calls)],
                lambda fn=raw_fn: [fn() for _ in range(calls)],
                lambda fn=plain_fn: [fn() for _ in range(calls)],
            )
            self.add(Result(name, self.engine, LATENCY, calls, ours, raw, plain=plain))

    def get_or_create(self) -> None:
        s = self.sizes
        q, table, model = self.q["goc"], self.tables["goc"], self.models["goc"]
        loaded = self.load_goc()
        rng = random.Random(6)
        hits = [rng.randrange(loaded) for _ in range(s.goc_calls)]
        counter = {"ours": 10**8, "raw": 2 * 10**8, "plain": 3 * 10**8}
        first = dict(counter)

        def ours_get(keys: list[int]) -> None:
            for k in keys:
                values = row(k)
                instance, _ = q.get_or_create({"id": values.pop("id")}, **values)
                assert instance.id == k

        def raw_get(keys: list[int]) -> None:
            for k in keys:
                self.raw.get_or_create(table, self.data(k, 1)[0])

        def plain_get(keys: list[int]) -> None:
            for k in keys:
                instance, _ = self.plain.get_or_create(model, row(k))
                assert instance.id == k

        def fresh(side: str) -> list[int]:
            start = counter[side]
            counter[side] += s.goc_calls
            return list(range(start, start + s.goc_calls))

        before = q.count()
        ours, raw, plain = self.compare(lambda: ours_get(hits), lambda: raw_get(hits), lambda: plain_get(hits))
        self.expect("get_or_create hits add nothing", q.count(), before)
        hit = Result(
            "get_or_create hit", self.engine, LATENCY, s.goc_calls, ours, raw, plain=plain, target=self.key_read
        )
        self.add(hit)
        ours, raw, plain = self.compare(
            lambda: ours_get(fresh("ours")), lambda: raw_get(fresh("raw")), lambda: plain_get(fresh("plain"))
        )
        sides = 3 if self.sql else 2
        self.expect("get_or_create misses", q.count() - before, sides * s.goc_calls * s.repeat)
        for side, end in counter.items():
            if end != first[side]:  # the side ran: its last key is there
                self.expect(f"get_or_create miss ({side})", self.raw_field(table, end - 1, "oid"), row(end - 1)["oid"])
        self.add(Result("get_or_create miss", self.engine, LATENCY, s.goc_calls, ours, raw, plain=plain))

    def find_one(self) -> None:
        s = self.sizes
        q, table, model = self.q["read"], self.tables["read"], self.models["read"]
        rng = random.Random(7)
        keys = [rng.randrange(s.read_rows) for _ in range(s.find_calls)]
        self.expect("find_one", q.find_one({"id": keys[0]}).id, keys[0])
        self.expect("find_one (raw)", self.raw_field(table, keys[0], "oid"), row(keys[0])["oid"])
        if self.sql:
            self.expect("find_one (plain)", self.plain.find_one(model, keys[0]).id, keys[0])

        def ours() -> None:
            for k in keys:
                q.find_one({"id": k})

        def raw() -> None:
            for k in keys:
                self.raw.find_one(table, k)

        def plain() -> None:
            for k in keys:
                self.plain.find_one(model, k)

        ours_t, raw_t, plain_t = self.compare(ours, raw, plain)
        self.add(
            Result(
                "find_one by key",
                self.engine,
                LATENCY,
                s.find_calls,
                ours_t,
                raw_t,
                target=self.key_read,
                plain=plain_t,
            )
        )

    def stream(self) -> None:
        """Each side streams the read table in a fresh process: throughput and peak RSS growth."""
        s = self.sizes
        sides = ["ours", "raw", "plain"] if self.sql else ["ours", "raw"]
        runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
        for n in range(s.stream_repeat):
            shift = n % len(sides)
            for side in sides[shift:] + sides[:shift]:
                runs[side].append(stream_in_subprocess(self.engine, self.url, side, "read"))
        for side, measured in runs.items():
            for m in measured:
                self.expect(f"stream rows ({side})", m["rows"], s.read_rows)
        seconds = {side: [m["seconds"] for m in measured] for side, measured in runs.items()}
        growth = {side: [m["growth_mb"] for m in measured] for side, measured in runs.items()}
        # Mongo: pymongo's own cursor is the plain way (see benchmarks.plain).
        seconds.setdefault("plain", seconds["raw"])
        growth.setdefault("plain", growth["raw"])
        name = f"stream {s.read_rows:,} rows"
        self.add(Result(name, self.engine, RATE, s.read_rows, seconds["ours"], seconds["raw"], plain=seconds["plain"]))
        self.add(
            Result(
                f"{name}: peak RSS growth",
                self.engine,
                SIZE,
                s.read_rows,
                growth["ours"],
                growth["raw"],
                target=Target(50, "ours"),
                plain=growth["plain"],
            )
        )


def stream_in_subprocess(engine: str, url: str, side: str, name: str) -> dict[str, Any]:
    """Run :mod:`benchmarks.stream` in a fresh interpreter; its JSON report."""
    spec = json.dumps({"engine": engine, "url": url, "side": side, "name": name, "batch": 1000})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.stream", spec],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"stream subprocess ({engine}, {side}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
