"""The benchmark harness runs (quick mode, small N) on every engine, so it never rots.

No timing assertions: what is checked is that every operation ran on every
side (ours, raw, plain), did its work (the suite itself verifies row counts and
results), and that the report carries every number and target it promises.
"""

from __future__ import annotations

import json
import math

import pytest

from benchmarks import cli, report
from benchmarks.aio import CONCURRENCY
from benchmarks.databases import SQL_ENGINES
from benchmarks.harness import (
    CALLS,
    HEADERS,
    LATENCY,
    RATE,
    SIZE,
    Result,
    Target,
    check_targets,
    compare,
    markdown_table,
    text_table,
)
from db_plugins.db.sql.dialects.mysql import MySQLFeatures
from tests.servers import ENGINES, SERVER_ENGINES, base_url

# Smaller than --quick: the point is that every path runs, in seconds.
TINY = ["--quick", "--rows", "300", "--read-rows", "1000", "--mongo-read-rows", "300", "--quiet"]

OPERATIONS = [
    "bulk_insert 300 rows",
    "upsert 300 rows, half existing",
    "bulk_insert ignore 300 rows, half existing",
    "bulk_update 30 rows",
    "paginate page 1",
    "paginate page 1, with count",
    "paginate offset, row",
    "paginate keyset, row",
    "count",
    "count max_results=",
    "get_or_create hit",
    "get_or_create miss",
    "find_one by key",
    "stream ",
    "stream  rows: peak RSS growth",
]

#: The async column (our asyncio API against the raw async driver), on every engine but mongomock.
ASYNC_OPERATIONS = [
    "bulk_insert 300 rows (async)",
    "paginate page 1 (async)",
    "get_or_create hit (async)",
    "get_or_create miss (async)",
    "find_one by key (async)",
]
THREADS = f"find_one, {CONCURRENCY} threads on one connection (sync)"
COROUTINES = f"find_one, {CONCURRENCY} coroutines on one connection (async)"


def _names(results: list[dict]) -> list[str]:
    return [r["operation"] for r in results]


def _has(names: list[str], operation: str) -> bool:
    if operation == "stream  rows: peak RSS growth":
        return any(n.startswith("stream ") and n.endswith("peak RSS growth") for n in names)
    if operation == "count":
        return "count" in names
    return any(n.startswith(operation) for n in names)


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("engine", ENGINES)
def test_quick_run_measures_every_operation(engine, tmp_path, capsys):
    if engine in SERVER_ENGINES:
        base_url(engine)  # skipped (or failed under DBP_REQUIRE_SERVERS=1) without a server
    out = tmp_path / "bench.json"
    assert cli.main([*TINY, "--engines", engine, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    payload = json.loads(out.read_text())
    results = payload["results"]
    names = _names(results)
    expected = list(OPERATIONS)
    if engine == "mongomock":
        expected = [op for op in expected if not op.startswith("stream")]
    for operation in expected:
        assert _has(names, operation), (operation, names)
    assert all(r["engine"] == engine for r in results)
    sync_results = [r for r in results if not r["operation"].endswith("(async)") and r["unit"] != CALLS]
    _check_async(engine, [r for r in results if r not in sync_results], printed)
    for r in sync_results:
        assert r["ours"] and r["raw"] and r["plain"], r["operation"]
        if r["unit"] == SIZE:
            assert all(v >= 0 for v in r["ours"] + r["raw"] + r["plain"])
            assert r["plain_ratio"] is None and r["plain_met"] is None
        else:
            assert all(v > 0 for v in r["ours"] + r["raw"] + r["plain"]), r["operation"]
            assert r["ratio"] is not None and math.isfinite(r["ratio"]) and r["ratio"] > 0
            assert r["plain_ratio"] is not None and math.isfinite(r["plain_ratio"]) and r["plain_ratio"] > 0
            assert r["plain_met"] in (True, False), r["operation"]
            assert "x plain ✓" in _printed_row(printed, r) or "x plain ✗" in _printed_row(printed, r)
        if engine in SQL_ENGINES:
            # A measurement of its own (SQLAlchemy ORM, a Session per call), not raw's numbers
            # (sizes are rounded to 4 kB pages and may match).
            assert r["unit"] == SIZE or r["plain"] != r["raw"], r["operation"]
        elif r["operation"].startswith("bulk_insert ") and "ignore" not in r["operation"]:
            assert r["plain"] != r["raw"]  # insert_many as documented, not raw's ordered=False
        else:
            assert r["plain"] == r["raw"], r["operation"]  # raw already is pymongo as users write it
        if r["target"] is not None:
            assert r["met"] in (True, False), r["operation"]
        assert r["operation"] in printed
    assert payload["meta"]["machine"]["cpus"] >= 1
    assert payload["meta"]["sizes"][engine]["rows"] == 300


def _check_async(engine: str, results: list[dict], printed: str) -> None:
    """The async column: ours and the raw async driver timed, the targets judged; the throughput
    rows: calls per second of the coroutines and of the threads, and their ratio."""
    if engine == "mongomock":
        assert results == [] and "async skipped: mongomock" in printed
        return
    by_name = {r["operation"]: r for r in results}
    assert sorted(by_name) == sorted([*ASYNC_OPERATIONS, THREADS, COROUTINES])
    for name in ASYNC_OPERATIONS:
        r = by_name[name]
        assert r["ours"] and r["raw"] and not r["plain"], name
        assert all(v > 0 for v in r["ours"] + r["raw"]), name
        assert r["ratio"] is not None and math.isfinite(r["ratio"]) and r["ratio"] > 0
        limit = 1.25 if engine == "postgresql" and name.startswith("bulk_insert") else 1.5
        assert r["target"] == {"limit": limit, "what": "ratio"} and r["met"] in (True, False), name
        assert f"time ≤ {limit:g}x raw" in _printed_row(printed, r)
    for name in (THREADS, COROUTINES):
        r = by_name[name]
        assert r["unit"] == CALLS and r["ours"] and all(v > 0 for v in r["ours"]) and r["work"] >= CONCURRENCY
    coroutines = by_name[COROUTINES]
    assert coroutines["target"] == {"limit": None, "what": f"vs:{THREADS}"} and coroutines["met"] is None
    assert f"time vs {THREADS} (" in _printed_row(printed, coroutines)
    driver = {"postgresql": "asyncpg", "sqlite": "aiosqlite", "mongodb": "pymongo AsyncMongoClient"}
    driver["mysql"] = MySQLFeatures.async_driver  # the driver our dialect uses, whichever it is
    assert f"async raw = {driver[engine]}" in printed


def _printed_row(printed: str, result: dict) -> str:
    """The text table's line for ``result``."""
    return next(
        line for line in printed.splitlines() if line.startswith(result["operation"] + " ") and result["engine"] in line
    )


def test_markdown_and_text_outputs(tmp_path):
    out = tmp_path / "bench.md"
    argv = [*TINY, "--engines", "sqlite", "--only", "bulk_insert", "find_one", "--api", "sync", "--out", str(out)]
    assert cli.main(argv) == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("| operation | engine |")
    assert "| ours/raw time | plain | ours/plain time |" in lines[0]
    assert any(line.startswith("| bulk_insert 300 rows | sqlite | rows/s |") for line in lines)
    assert any(line.startswith("| find_one by key | sqlite | ms/call |") for line in lines)
    assert not any("paginate" in line for line in lines)  # --only
    assert not any("(async)" in line for line in lines)  # --api sync


def test_async_column_alone(tmp_path, capsys):
    """``--api async``: only the async rows, each against the raw async driver, and the throughput pair."""
    out = tmp_path / "async.json"
    assert cli.main([*TINY, "--engines", "sqlite", "--api", "async", "--only", "find_one", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    results = json.loads(out.read_text())["results"]
    assert _names(results) == ["find_one by key (async)", THREADS, COROUTINES]
    find = results[0]
    assert find["ours"] and find["raw"] and find["met"] in (True, False)
    assert "time ≤ 1.5x raw" in _printed_row(printed, find)
    assert "async raw = aiosqlite" in printed


def test_unknown_engine_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--engines", "oracle"])
    assert info.value.code == 2
    assert "unknown engine(s): oracle" in capsys.readouterr().err


def test_ratios_targets_and_units():
    insert = Result(
        "bulk_insert", "x", RATE, 1000, ours=[2.0, 1.0, 3.0], raw=[1.0, 1.0, 1.0], target=Target(1.25, "ratio")
    )
    assert insert.ratio == 2.0 and insert.met() is False
    assert insert.shown(insert.ours) == "500"  # 1000 rows / median 2 s
    page1 = Result("paginate page 1", "x", LATENCY, 10, ours=[0.010], raw=[0.005])
    deep = Result(
        "paginate keyset", "x", LATENCY, 10, ours=[0.012], raw=[0.005], target=Target(1.5, "vs:paginate page 1")
    )
    rss = Result("stream: peak RSS growth", "x", SIZE, 10, ours=[12.0], raw=[1.0], target=Target(50, "ours"))
    check_targets([page1, deep, rss])
    assert deep.against == pytest.approx(1.2) and deep.met() is True
    assert page1.shown(page1.ours) == "1"  # ms per page
    assert rss.ratio is None and rss.met() is True and rss.shown(rss.ours) == "12.0"
    table = text_table([insert, page1, deep, rss])
    assert "time ≤ 1.25x raw ✗" in table and "(1.20x) ✓" in table
    assert markdown_table([insert]).count("\n") == 2
    assert insert.plain_ratio is None and insert.plain_met() is None and "plain" not in insert.target_text()


def test_a_comparison_without_a_limit_is_shown_not_judged():
    threads = Result("find_one, 100 threads", "x", CALLS, 200, ours=[0.1])
    coroutines = Result(
        "find_one, 100 coroutines", "x", CALLS, 200, ours=[0.2], target=Target(None, "vs:find_one, 100 threads")
    )
    check_targets([threads, coroutines])
    assert coroutines.against == pytest.approx(2.0) and coroutines.met() is None
    assert coroutines.target_text() == "time vs find_one, 100 threads (2.00x)"
    assert threads.shown(threads.ours) == "2,000" and coroutines.ratio is None  # calls per second; no raw side
    assert "calls/s" in text_table([threads, coroutines])


def test_plain_column_and_its_target():
    faster = Result("find_one", "x", LATENCY, 10, ours=[0.010], raw=[0.005], plain=[0.020], target=Target(1.5, "ratio"))
    slower = Result("bulk_insert", "x", RATE, 1000, ours=[2.0], raw=[1.0], plain=[1.0, 1.0, 4.0])
    rss = Result(
        "stream: peak RSS growth", "x", SIZE, 10, ours=[1.0], raw=[1.0], plain=[3.0], target=Target(50, "ours")
    )
    assert faster.plain_ratio == pytest.approx(0.5) and faster.plain_met() is True
    assert faster.met() is False  # its own target (vs raw) is judged apart
    assert slower.plain_ratio == pytest.approx(2.0) and slower.plain_met() is False
    assert rss.plain_ratio is None and rss.plain_met() is None  # a size, not a time
    assert faster.target_text() == "time ≤ 1.5x raw ✗; time ≤ 1x plain ✓"
    assert slower.target_text() == "time ≤ 1x plain ✗"
    assert rss.target_text() == "≤ 50 ✓"
    row = dict(zip(HEADERS, [c.strip() for c in markdown_table([faster]).splitlines()[2].split("|")[1:-1]]))
    assert row["plain"] == "2" and row["ours/plain time"] == "0.50"  # 20 ms per call
    assert row["target"] == "time ≤ 1.5x raw ✗; time ≤ 1x plain ✓"
    assert rss.shown(rss.plain) == "3.0"


def test_compare_rotates_the_sides_and_checks_each_run():
    order: list[str] = []
    times = compare(
        lambda: order.append("ours"),
        lambda: order.append("raw"),
        3,
        setup=lambda side: order.append(f"setup {side}"),
        plain=lambda: order.append("plain"),
        check=lambda side: order.append(f"check {side}"),
    )
    assert [len(times.ours), len(times.raw), len(times.plain)] == [3, 3, 3]
    runs = [side for side in order if side in ("ours", "raw", "plain")]
    assert runs == ["ours", "raw", "plain", "raw", "plain", "ours", "plain", "ours", "raw"]
    assert order[:3] == ["setup ours", "ours", "check ours"]
    assert compare(lambda: None, None, 2).raw == []  # a side not given is not run


def test_report_renders_saved_runs(tmp_path, capsys):
    out = tmp_path / "run.json"
    argv = [*TINY, "--engines", "sqlite", "--only", "find_one", "paginate", "--api", "sync", "--out", str(out)]
    assert cli.main(argv) == 0
    capsys.readouterr()
    assert report.main(["report", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| find_one by key | sqlite | ms/call |" in printed
    assert "(1, 5, 15 min)" in printed and "--only find_one paginate --api sync" in printed
    assert "| ours/plain time |" in printed and "x plain" in printed
    results, _ = report.load(out)
    keyset = next(r for r in results if r.operation.startswith("paginate keyset"))
    assert keyset.against is not None and keyset.met() in (True, False)
    assert all(r.plain and r.plain_met() in (True, False) for r in results)
    # A run saved before the plain column existed still renders (its plain cells empty).
    payload = json.loads(out.read_text())
    for item in payload["results"]:
        for key in ("plain", "plain_ratio", "plain_met", "plain_shown"):
            del item[key]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(payload))
    results, _ = report.load(old)
    assert all(not r.plain and r.plain_met() is None for r in results)
    assert report.main(["report", str(old)]) == 0
    assert "x plain" not in capsys.readouterr().out
