"""Concurrency: 8 processes x 1,000 mixed operations on a few hot keys, and two dbp initdb at once.

Each process (its own connection) runs a seeded random mix of

* ``get_or_create`` on a hot ``Item`` key (the primary key) and on a hot
  ``Event`` ``oid`` (no unique index: the plugin's lock must prevent duplicates);
  half of them on a key that is new every 50 ms (250 ms on Mongo), so that the
  processes in that window all miss and race to create it,
* ``insert`` of a hot ``Item`` (a ``DuplicateKeyError`` is the expected answer
  once it exists) and of a ledger row (``Sample``) with a unique key,
* ``update`` of a hot ``Item``,
* ``bulk_insert(on_conflict="update")`` of three hot ``Item`` rows (and, one time
  in four, a new one),

and reports every acknowledged write. The final state must be consistent with
the reports: every acknowledged row is there (rows lost: 0), no key has two
rows, every ``get_or_create`` of one key returned the same row and exactly
one caller created it, every row holds the values of one acknowledged write
(no write is torn between two writers), rows never written since their
creation hold their defaults, and no operation raised anything unexpected.

The default run is the issue's 8 x 1,000 on every server engine and on a
SQLite file (about 10-40 s each on two cores); ``DBP_TEST_CONCURRENCY_OPS``
raises the operations per process.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import db_plugins
from tests.migrations import models as migration_models
from tests.migrations.project import DBP, Project
from tests.servers import SQL_ENGINES, fresh_database

pytestmark = pytest.mark.slow

PROCESSES = 8
OPS = int(os.environ.get("DBP_TEST_CONCURRENCY_OPS", "1000"))
HOT_ITEMS = [f"hot{i}" for i in range(10)]
HOT_EVENTS = [f"event-{i}" for i in range(5)]
MIX = {"goc_item": 20, "goc_event": 15, "insert_item": 15, "insert_ledger": 15, "update": 20, "bulk_upsert": 15}


def _code(worker: int, step: int) -> int:
    return worker * 1_000_000 + step


def _slice_key(period: float) -> str:
    """A key that is new every ``period`` seconds: the processes calling get_or_create in that window
    all miss at once and race to create it."""
    return f"slice-{int(time.time() / period)}"


def _decode(name: str) -> tuple[int, int]:
    """``w<worker>-<step>[/<key>]`` -> (worker, step)."""
    worker, step = name.split("/")[0][1:].split("-")
    return int(worker), int(step)


def _worker(config: dict[str, Any], is_sql: bool, worker: int, ops: int, barrier: str) -> dict[str, Any]:
    """One process's share of the workload; returns what it did and what the server acknowledged."""
    if is_sql:
        from tests.contract.models_sql import Event, Item, Sample
    else:
        from tests.contract.models_mongo import Event, Item, Sample

    report: dict[str, Any] = {
        "ops": Counter(),
        "time": Counter(),  # seconds spent per operation kind
        "errors": [],
        "duplicates_refused": 0,
        "writes": {},  # item key -> names acknowledged for it
        "items_created": [],  # keys this worker's get_or_create created
        "event_rows": {},  # event oid -> the key of the row get_or_create returned
        "events_created": [],
        "ledger": [],
        "new_items": [],
        "seconds": 0.0,
    }
    rng = random.Random(worker)
    seen: dict[str, Any] = {}
    # FerretDB makes a get_or_create miss cost ~100x a SQL one: fewer new keys there, or its run takes minutes.
    period = 0.05 if is_sql else 0.25
    with db_plugins.connect(config) as db:
        items, events, ledger = db.query(Item), db.query(Event), db.query(Sample)
        event_key = events.primary_key[0]
        # Every process starts at once: the most contention the hot keys can get.
        Path(barrier, str(worker)).touch()
        deadline = time.monotonic() + 120
        while len(os.listdir(barrier)) < PROCESSES and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        for step in range(ops):
            op = rng.choices(list(MIX), weights=list(MIX.values()))[0]
            key = rng.choice(HOT_ITEMS)
            tag = f"w{worker}-{step}"
            report["ops"][op] += 1
            began = time.monotonic()
            try:
                if op == "goc_item":
                    key = key if rng.random() < 0.5 else _slice_key(period)
                    seen[key], created = items.get_or_create({"oid": key}, n=0)
                    if created:
                        report["items_created"].append(key)
                elif op == "goc_event":
                    oid = rng.choice(HOT_EVENTS) if rng.random() < 0.5 else _slice_key(period)
                    row, created = events.get_or_create({"oid": oid})
                    found = str(getattr(row, event_key) if is_sql else row[event_key])
                    assert report["event_rows"].setdefault(oid, found) == found, f"{oid}: two different rows"
                    if created:
                        report["events_created"].append(oid)
                elif op == "insert_item":
                    try:
                        items.insert({"oid": key, "name": tag, "n": _code(worker, step), "mag": float(step)})
                    except db_plugins.DuplicateKeyError:
                        report["duplicates_refused"] += 1
                    else:
                        report["writes"].setdefault(key, []).append(tag)
                elif op == "insert_ledger":
                    # A table of its own, so the hot tables stay small (FerretDB scans them on every read).
                    ledger.insert({"id": _code(worker, step), "s": tag})
                    report["ledger"].append(_code(worker, step))
                elif op == "update":
                    # The instance this process last saw (rows are never deleted), as an application holds one.
                    row = seen.get(key)
                    if row is None:
                        row, created = items.get_or_create({"oid": key}, n=0)
                        if created:
                            report["items_created"].append(key)
                    seen[key] = items.update(row, {"name": tag, "n": _code(worker, step), "mag": float(step)})
                    report["writes"].setdefault(key, []).append(tag)
                else:
                    keys = rng.sample(HOT_ITEMS, 3)
                    rows = [
                        {"oid": k, "name": f"{tag}/{k}", "n": _code(worker, step), "mag": float(step)} for k in keys
                    ]
                    if step % 4 == 0:  # and a row nobody else writes
                        rows.append({"oid": f"new-{tag}", "name": tag, "n": _code(worker, step), "mag": float(step)})
                        report["new_items"].append(f"new-{tag}")
                    items.bulk_insert(rows, on_conflict="update")
                    for row in rows:
                        report["writes"].setdefault(row["oid"], []).append(row["name"])
            except Exception as exc:  # every unexpected error is reported, none may happen
                report["errors"].append(f"{op} {key}: {type(exc).__name__}: {exc}"[:500])
            report["time"][op] += time.monotonic() - began
        report["seconds"] = time.monotonic() - started
    return report


def _value(row: Any, name: str) -> Any:
    return getattr(row, name) if not isinstance(row, dict) else row.get(name)


ENGINES = ["sqlite", "postgresql", "mysql", "mongodb"]


@pytest.mark.parametrize("engine", ENGINES)
def test_eight_processes_mixed_operations_on_hot_keys(engine: str, tmp_path: Path) -> None:
    is_sql = engine in SQL_ENGINES
    with fresh_database(engine, tmp_path) as url:
        config = {"URL": url, "MODELS": "tests.contract.models_sql:Base" if is_sql else "tests.contract.models_mongo"}
        with db_plugins.connect(config) as db:
            db.create_db()
        barrier = tmp_path / "barrier"
        barrier.mkdir()
        context = multiprocessing.get_context("spawn")
        started = time.monotonic()
        with context.Pool(PROCESSES) as pool:
            reports = pool.starmap(_worker, [(config, is_sql, w, OPS, str(barrier)) for w in range(PROCESSES)])
        elapsed = time.monotonic() - started
        with db_plugins.connect(config) as db:
            summary = check_final_state(db, is_sql, reports)
    summary["seconds"] = round(elapsed, 1)
    print(f"\n{engine}: {summary}")


def check_final_state(db: Any, is_sql: bool, reports: list[dict[str, Any]]) -> dict[str, Any]:
    if is_sql:
        from tests.contract.models_sql import Event, Item, Sample
    else:
        from tests.contract.models_mongo import Event, Item, Sample
    items, events, ledger = db.query(Item), db.query(Event), db.query(Sample)

    errors = [error for report in reports for error in report["errors"]]
    assert not errors, f"{len(errors)} unhandled exception(s), e.g. {errors[:3]}"
    done = sum(sum(report["ops"].values()) for report in reports)
    assert done == PROCESSES * OPS

    # Items: one row per key, every acknowledged key present, values from one whole write.
    stored = {_value(row, "oid"): row for row in items.find_all(paginate=False)}
    assert items.count() == len(stored), "a key has two rows"
    writes: dict[str, list[str]] = {}
    for report in reports:
        for key, names in report["writes"].items():
            writes.setdefault(key, []).extend(names)
    created = Counter(key for report in reports for key in report["items_created"])
    expected = set(writes) | set(created)
    lost = expected - set(stored)
    assert not lost, f"rows lost: {sorted(lost)[:10]}"
    assert set(stored) <= expected | set(HOT_ITEMS), "rows nobody wrote"
    assert all(count == 1 for count in created.values()), f"created twice: {created}"
    for key, row in stored.items():
        name, n, mag = _value(row, "name"), _value(row, "n"), _value(row, "mag")
        if key in writes:
            assert name in writes[key], f"{key}: {name!r} is no acknowledged write"
            worker, step = _decode(name)
            assert (n, mag) == (_code(worker, step), float(step)), f"{key}: a torn write ({name}, {n}, {mag})"
        else:
            assert (name, n) == (None, 0), f"{key}: never written, yet holds {name!r}, {n!r}"

    # Events: one row per hot oid, the same row for every caller, one creator; the whole ledger.
    rows_of: dict[str, set[str]] = {}
    for report in reports:
        for oid, key in report["event_rows"].items():
            rows_of.setdefault(oid, set()).add(key)
    for oid, keys in rows_of.items():
        assert events.count({"oid": oid}) == 1, f"{oid}: duplicate rows"
        assert len(keys) == 1, f"{oid}: callers got different rows {keys}"
    creators = Counter(oid for report in reports for oid in report["events_created"])
    assert creators == Counter(set(rows_of)), f"creators per oid: {creators}"
    assert events.count() == len(rows_of), "event rows nobody asked for"
    acknowledged = [code for report in reports for code in report["ledger"]]
    stored_ledger = [_value(row, "id") for row in ledger.find_all(paginate=False)]
    assert Counter(stored_ledger) == Counter(acknowledged), "ledger rows lost or duplicated"
    return {
        "operations": done,
        "ops": dict(sum((report["ops"] for report in reports), Counter())),
        "seconds per kind": {k: round(v, 1) for k, v in sum((r["time"] for r in reports), Counter()).items()},
        "acknowledged writes": sum(len(names) for names in writes.values()) + len(acknowledged),
        "duplicate inserts refused": sum(report["duplicates_refused"] for report in reports),
        "rows lost": 0,
        "duplicate rows": 0,
        "unhandled exceptions": 0,
    }


# -- two dbp initdb at once ----------------------------------------------------------------------

BARRIER_SETTINGS = """
import os, time
from pathlib import Path

# Both processes wait here until the other has loaded its settings too, so their
# initdb runs really overlap.
if os.environ.get("DBP_TEST_BARRIER"):
    _barrier = Path(os.environ["DBP_TEST_BARRIER"])
    (_barrier / str(os.getpid())).touch()
    _deadline = time.monotonic() + 60
    while len(list(_barrier.iterdir())) < 2 and time.monotonic() < _deadline:
        time.sleep(0.005)
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_two_initdb_at_once(engine: str, tmp_path: Path) -> None:
    """Both succeed; one initial revision is written; the tables and the stamp exist once."""
    with fresh_database(engine, tmp_path) as url:
        root = tmp_path / "project"
        root.mkdir()
        project = Project(root, engine, url, runner="process")
        project.write_settings(BARRIER_SETTINGS)
        project.write_models(migration_models.SQL_V1 if project.is_sql else migration_models.MONGO_V1)
        barrier = tmp_path / "barrier"
        barrier.mkdir()
        env = {k: v for k, v in os.environ.items() if k != "DBP_SETTINGS"}
        env["DBP_TEST_BARRIER"] = str(barrier)
        processes = [
            subprocess.Popen([str(DBP), "initdb"], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
            for _ in range(2)
        ]  # fmt: skip
        outputs = [process.communicate(timeout=300) for process in processes]
        assert [process.returncode for process in processes] == [0, 0], outputs
        [revision] = project.revisions()
        head = revision.name.split("_", 1)[0]
        assert sum("wrote initial revision" in out for out, _ in outputs) == 1, outputs
        assert project.ok("current").stdout.strip() == f"{project.section}: {head}"
        if project.is_sql:
            assert project.tables() >= {"star", "observation"}
            assert project.scalar("SELECT COUNT(*) FROM alembic_version") == 1
        else:
            with project.mongo() as db:
                assert {"star", "observation"} <= set(db.list_collection_names())
                assert db["_dbp_migrations"].count_documents({}) == 1
        assert "nothing to apply" in project.ok("migrate").stdout


def test_sqlite_switch_to_wal_waits_for_a_locked_new_file(tmp_path: Path) -> None:
    """Two processes opening one new file: the one that meets the other's lock waits, it does not fail.

    SQLite refuses the journal-mode switch at once while another connection
    holds the file (the busy timeout does not apply), so the switch retries.
    """
    import sqlite3
    import threading

    from db_plugins.db.sql.dialects.sqlite import use_wal as _use_wal

    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    waiter = sqlite3.connect(path, timeout=0)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _use_wal(waiter.cursor(), patience=0.1)
    threading.Timer(0.3, holder.rollback).start()
    _use_wal(waiter.cursor(), patience=10)
    assert waiter.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    waiter.close()
    holder.close()
