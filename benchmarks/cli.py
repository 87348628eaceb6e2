"""``python -m benchmarks``: run the suite on each engine and print (or write) the table."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .databases import DEFAULT_ENGINES, ENGINES, private_database, private_ferretdb, server_url
from .harness import PACKAGES, Result, check_targets, markdown_table, text_table, to_json
from .suite import Sizes, Suite

#: Default sizes (the issue's workloads) and the quick mode's (CI: seconds, not minutes).
FULL = {"rows": 100_000, "read_rows": 1_000_000, "mongo_read_rows": 200_000, "repeat": 5}
QUICK = {"rows": 2_000, "read_rows": 5_000, "mongo_read_rows": 2_000, "repeat": 1}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "Time db-plugins' query interface against the raw drivers and plain SQLAlchemy ORM / pymongo code "
            "on every configured engine."
        ),
    )
    parser.add_argument(
        "--engines",
        nargs="+",
        metavar="ENGINE",
        help=f"engines to run (default: those configured of {', '.join(DEFAULT_ENGINES)}; also: mongomock)",
    )
    parser.add_argument("--rows", type=int, help="rows per bulk_insert/upsert run (default 100,000)")
    parser.add_argument(
        "--upsert-rows", type=int, help="rows per upsert/ignore run, a tenth of them per bulk_update (default: --rows)"
    )
    parser.add_argument("--read-rows", type=int, help="rows in the read table on SQL engines (default 1,000,000)")
    parser.add_argument("--mongo-read-rows", type=int, help="rows in the read table on Mongo engines (default 200,000)")
    parser.add_argument("--repeat", type=int, help="timed runs per operation and side, medians reported (default 5)")
    parser.add_argument("--quick", action="store_true", help="small sizes and one run each (CI: the harness must run)")
    parser.add_argument("--out", type=Path, help="also write the results: .json, .md, or a text table")
    parser.add_argument("--only", nargs="+", metavar="OPERATION", default=[], help="run operations starting so")
    parser.add_argument(
        "--peer-python",
        metavar="PYTHON",
        help="an interpreter with ALeRCE db-plugins 4.2.7 installed: adds its numbers on PostgreSQL",
    )
    parser.add_argument(
        "--private-ferretdb",
        action="store_true",
        help="run mongodb on a FerretDB server started for this run (scripts/services.sh builds the binary)",
    )
    parser.add_argument(
        "--api",
        choices=("sync", "async", "both"),
        default="both",
        help="the sync API, the asyncio API (against the raw async drivers), or both (default)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the table")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    engines = [e for item in (args.engines or []) for e in item.split(",") if e]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        parser.error(f"unknown engine(s): {', '.join(unknown)} (known: {', '.join(ENGINES)})")
    args.engines = engines
    if min(args.rows, args.upsert_rows or 1, args.read_rows, args.mongo_read_rows, args.repeat) < 1:
        parser.error("--rows, --upsert-rows, --read-rows, --mongo-read-rows and --repeat must be at least 1")
    return args


def sizes_for(engine: str, args: argparse.Namespace) -> Sizes:
    mongo = engine.startswith("mongo")
    read_rows = args.mongo_read_rows if mongo else args.read_rows
    # FerretDB on SQLite scans where MongoDB would seek (a find_one by _id on 200,000
    # documents takes about 2 s): fewer calls there, or the run takes hours.
    slow_server = engine == "mongodb"
    return Sizes(
        rows=args.rows,
        upsert_rows=args.upsert_rows or args.rows,
        read_rows=read_rows,
        repeat=args.repeat,
        find_calls=20 if args.quick else (20 if slow_server else 2000),
        goc_calls=10 if args.quick else (10 if slow_server else 300),
        page_calls=2 if args.quick else (2 if slow_server else 20),
        count_calls=2 if args.quick else (2 if slow_server else 10),
        stream_repeat=1 if args.quick else min(args.repeat, 3),
    )


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
    }
    try:
        with open("/proc/meminfo") as meminfo:
            total_kb = int(meminfo.readline().split()[1])
        info["memory_gib"] = round(total_kb / 2**20, 1)
    except OSError:
        pass
    from importlib import metadata

    for package in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            info[package] = metadata.version(package)
    return info


def run_engine(
    engine: str,
    server: str | None,
    args: argparse.Namespace,
    meta: dict[str, Any],
    results: list[Result],
    notes: list[str],
    skipped: list[str],
    log: Callable[[str], None],
) -> None:
    """The suite on one engine, in a private database on its server (and the peer on PostgreSQL)."""
    if server is None:
        skipped.append(engine)
        log(f'{engine}: skipped (its server URL is not set; run: eval "$(scripts/services.sh env)")')
        return
    sizes = sizes_for(engine, args)
    meta["sizes"][engine] = vars(sizes)
    log(f"{engine}: {sizes}")
    with private_database(engine, server) as url:
        apis = ("sync", "async") if args.api == "both" else (args.api,)
        suite = Suite(engine, url, sizes, log, args.only, apis)
        try:
            results.extend(suite.run())
            notes.extend(suite.notes)
            if args.peer_python and engine == "postgresql":
                from .peer import add_peer

                add_peer(args.peer_python, url, sizes, results, log)
        finally:
            suite.close()


def main(argv: list[str] | None = None) -> int:
    """Run the harness; 0 on success."""
    if threading.current_thread() is not threading.main_thread():
        return run(argv)
    # A terminated run still drops its private databases and stops its FerretDB.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return run(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(argv: list[str] | None = None) -> int:
    """:func:`main` without the signal handling."""
    args = parse_args(argv)

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    stack = contextlib.ExitStack()
    servers = {engine: server_url(engine) for engine in ENGINES}
    if args.private_ferretdb:
        servers["mongodb"] = stack.enter_context(private_ferretdb())
    engines = args.engines or [e for e in DEFAULT_ENGINES if servers[e] is not None]
    meta: dict[str, Any] = {
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "command": "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv),
        "engines": engines,
        "machine": machine(),
        "sizes": {},
    }
    results: list[Result] = []
    skipped = []
    notes: list[str] = []
    began = time.perf_counter()
    with stack:
        for engine in engines:
            run_engine(engine, servers[engine], args, meta, results, notes, skipped, log)
    check_targets(results)
    meta["skipped"] = skipped
    meta["notes"] = notes
    meta["seconds"] = round(time.perf_counter() - began, 1)
    meta["loadavg_after"] = os.getloadavg()
    print(text_table(results))
    for note in notes:
        print(f"note: {note}")
    if args.out:
        suffix = args.out.suffix.lower()
        if suffix == ".json":
            args.out.write_text(to_json(results, meta) + "\n")
        elif suffix == ".md":
            args.out.write_text(markdown_table(results) + "".join(f"\n\n{note}" for note in notes) + "\n")
        else:
            args.out.write_text(text_table(results) + "".join(f"\nnote: {note}" for note in notes) + "\n")
        log(f"wrote {args.out}")
    return 0
