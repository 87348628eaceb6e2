"""The peer column: ALeRCE db-plugins 4.2.7 doing the same work, in its own interpreter.

That release needs SQLAlchemy 1.3, so it cannot share our process: ``--peer-python``
names an interpreter where it is installed (see ``docs/performance.md``), which
runs :file:`peer_run.py` (standalone: it imports nothing of ours) against the
run's private PostgreSQL database and reports seconds per run as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .harness import Result
from .suite import PER_PAGE, Sizes

SCRIPT = Path(__file__).with_name("peer_run.py")


def add_peer(python: str, url: str, sizes: Sizes, results: list[Result], log: Callable[[str], None]) -> None:
    """Run the peer's workloads and put its times in the PostgreSQL results they match."""
    spec = {
        "url": url.replace("postgresql+psycopg2://", "postgresql://"),
        "rows": sizes.rows,
        "depth": sizes.depth,
        "per_page": PER_PAGE,
        "page_calls": sizes.page_calls,
        "goc_calls": sizes.goc_calls,
        "repeat": sizes.repeat,
    }
    log(f"  peer: {python} {SCRIPT.name}")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    with tempfile.TemporaryDirectory(prefix="dbp-peer-") as cwd:
        done = subprocess.run(
            [python, str(SCRIPT), json.dumps(spec)], capture_output=True, text=True, env=env, cwd=cwd, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(f"peer run failed:\n{done.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    log(f"  peer: db-plugins {report['version']}, SQLAlchemy {report['sqlalchemy']}")
    names = {
        "bulk_insert": f"bulk_insert {sizes.rows:,} rows",
        "page1": "paginate page 1",
        "offset": f"paginate offset, row {sizes.depth:,}",
        "goc_hit": "get_or_create hit",
        "goc_miss": "get_or_create miss",
    }
    for result in results:
        if result.engine != "postgresql":
            continue
        for key, name in names.items():
            if result.operation == name and report["times"].get(key):
                result.peer = report["times"][key]
