"""Stream one table in this (fresh) process and report throughput and peak RSS growth.

``python -m benchmarks.stream '{"engine": ..., "url": ..., "side": "ours", "name": "read", "batch": 1000}'``
(``side``: ``"ours"``, ``"raw"`` or ``"plain"``)
prints one JSON line: ``rows``, ``seconds``, ``growth_mb``. Run by
:func:`benchmarks.suite.stream_in_subprocess`, so each measurement starts
from a process that has held nothing yet.

Peak RSS growth is the high-water mark after the stream minus the resident
size before it. Linux lets a process reset its high-water mark (writing ``5``
to ``/proc/self/clear_refs``); where that is refused the mark since start is
used, which can only overstate the growth.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Iterator
from typing import Any

from .databases import SQL_ENGINES


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass


def rows_of(spec: dict[str, Any]) -> Iterator[Any]:
    """An iterator over the table's rows on the requested side (connected, not started).

    ``"plain"`` is SQL only: on Mongo the raw side is the plain way (see :mod:`benchmarks.plain`).
    """
    engine, url, name, batch = spec["engine"], spec["url"], spec["name"], spec["batch"]
    if spec["side"] == "ours":
        import db_plugins

        from .models import SQL_MODELS, mongo_models

        model = (SQL_MODELS if engine in SQL_ENGINES else mongo_models())[name]
        db = db_plugins.connect(url)
        return iter(db.query(model).find_all(paginate=False, batch_size=batch))
    if spec["side"] == "plain":
        from .models import SQL_MODELS
        from .plain import plain_sql

        plain = plain_sql(engine, url)
        plain.engine.connect().close()  # connected before the clock starts, as the other sides are
        return plain.stream(SQL_MODELS[name], batch)
    from .raw import RawMongo, raw_sql

    raw: Any = raw_sql(engine, url) if engine in SQL_ENGINES else RawMongo.connect(url)
    return raw.stream(f"bench_{name}", batch)


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    rows = rows_of(spec)
    gc.collect()
    _reset_peak()
    before = _status_kb("VmRSS")
    start = time.perf_counter()
    count = 0
    for _ in rows:
        count += 1
    seconds = time.perf_counter() - start
    peak = _status_kb("VmHWM")
    print(json.dumps({"rows": count, "seconds": seconds, "growth_mb": max(0, peak - before) / 1024}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
