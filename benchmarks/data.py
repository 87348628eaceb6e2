"""The benchmark rows, with no dependency beyond the standard library.

Shared by :mod:`benchmarks.models` and :file:`peer_run.py` (which runs under the
peer's interpreter, with SQLAlchemy 1.3, and imports this file by path).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

EPOCH = dt.datetime(2024, 1, 1)


def row(i: int) -> dict[str, Any]:
    """Row number ``i`` (deterministic; timestamps in whole milliseconds so BSON keeps them exactly)."""
    return {
        "id": i,
        "oid": f"ZTF{i:09d}",
        "mag": 15.0 + (i % 1000) / 100,
        "ndet": i % 500,
        "created": EPOCH + dt.timedelta(seconds=i, milliseconds=i % 1000),
    }
