"""The peer's workloads, run by ALeRCE db-plugins 4.2.7 (SQLAlchemy 1.3) in its own interpreter.

Standalone on purpose (see :mod:`benchmarks.peer`): ``python peer_run.py SPEC_JSON``
prints ``{"version", "sqlalchemy", "times": {workload: [seconds per run]}}``.
The tables mirror :mod:`benchmarks.models`; paginate reads the suite's
``bench_read`` table, already loaded.
"""

# ruff: noqa: I001 -- db_plugins here is the peer's installed package, not ours
import gc
import json
import random
import sys
import time
from importlib import metadata

import sqlalchemy as sa
from db_plugins.db.sql.connection import SQLConnection
from sqlalchemy.ext.declarative import declarative_base

# This file's folder is on sys.path when it runs as a script: the rows are ours exactly.
from data import row

Base = declarative_base()


def columns():
    return {
        "id": sa.Column(sa.BigInteger, primary_key=True, autoincrement=False),
        "oid": sa.Column(sa.String(24)),
        "mag": sa.Column(sa.Float),
        "ndet": sa.Column(sa.Integer),
        "created": sa.Column(sa.DateTime),
    }


PeerWrite = type("PeerWrite", (Base,), {"__tablename__": "peer_write", **columns()})
PeerGoc = type("PeerGoc", (Base,), {"__tablename__": "peer_goc", **columns()})
ReadRow = type("ReadRow", (Base,), {"__tablename__": "bench_read", **columns()})


def timed(fn):
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    spec = json.loads(sys.argv[1])
    db = SQLConnection()
    db.connect({"SQLALCHEMY_DATABASE_URL": spec["url"]}, base=Base)
    Base.metadata.create_all(db.engine, tables=[PeerWrite.__table__, PeerGoc.__table__])
    repeat, n = spec["repeat"], spec["rows"]
    times = {}

    rows = [row(i) for i in range(n)]
    runs = []
    for _ in range(repeat):
        db.session.query(PeerWrite).delete()
        db.session.commit()
        runs.append(timed(lambda: db.query().bulk_insert(rows, PeerWrite)))
    if db.session.query(PeerWrite).count() != n:
        raise AssertionError("peer bulk_insert did not write every row")
    times["bulk_insert"] = runs

    per_page, calls, depth = spec["per_page"], spec["page_calls"], spec["depth"]
    for name, page in (("page1", 1), ("offset", depth // per_page + 1)):

        def pages(page=page):
            for _ in range(calls):
                result = db.query(ReadRow).order_by(ReadRow.id).paginate(page=page, per_page=per_page, count=False)
                assert result.items[0].id == (page - 1) * per_page

        times[name] = [timed(pages) for _ in range(repeat)]

    loaded = 10_000
    db.query().bulk_insert([row(i) for i in range(loaded)], PeerGoc)
    goc_calls = spec["goc_calls"]
    rng = random.Random(6)
    hits = [rng.randrange(loaded) for _ in range(goc_calls)]
    counter = [3 * 10**8]

    def get(keys):
        for k in keys:
            values = row(k)
            instance, _ = db.query().get_or_create(PeerGoc, filter_by={"id": values.pop("id")}, **values)
            assert instance.id == k

    def misses():
        start = counter[0]
        counter[0] += goc_calls
        get(range(start, start + goc_calls))

    times["goc_hit"] = [timed(lambda: get(hits)) for _ in range(repeat)]
    times["goc_miss"] = [timed(misses) for _ in range(repeat)]
    db.session.close()
    db.engine.dispose()
    print(json.dumps({"version": metadata.version("db-plugins"), "sqlalchemy": sa.__version__, "times": times}))


if __name__ == "__main__":
    main()
