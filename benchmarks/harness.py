"""Timing, results and the report (text table, Markdown, JSON)."""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

#: How an operation's numbers are shown: as a rate of ``work`` per second, or as
#: milliseconds per unit of ``work`` (per call, per page), or as a size in MB.
RATE, LATENCY, SIZE = "rows/s", "ms", "MB"


@dataclass
class Target:
    """A goal for a result: ``value`` compared with ``limit``; ``what`` says which value."""

    limit: float
    what: str  # "ratio" (ours / raw time), "ours" (the value itself, e.g. MB) or "vs:<operation>"

    def describe(self) -> str:
        if self.what == "ratio":
            return f"time ≤ {self.limit:g}x raw"
        if self.what.startswith("vs:"):
            return f"≤ {self.limit:g}x {self.what[3:]}"
        return f"≤ {self.limit:g}"


@dataclass
class Result:
    """One operation on one engine: seconds per run (or MB) for ours, raw and the peer."""

    operation: str
    engine: str
    unit: str
    work: int
    ours: list[float]
    raw: list[float] = field(default_factory=list)
    peer: list[float] = field(default_factory=list)
    target: Target | None = None
    note: str = ""
    # Filled by :func:`check_targets` for targets comparing two of our results.
    against: float | None = None

    @property
    def ratio(self) -> float | None:
        """Median of our time over the raw driver's (1.0: as fast; 2.0: twice as slow)."""
        if not self.raw or self.unit == SIZE:
            return None
        return statistics.median(self.ours) / statistics.median(self.raw)

    def shown(self, values: Sequence[float]) -> str:
        if not values:
            return ""
        median = statistics.median(values)
        if self.unit == RATE:
            return f"{self.work / median:,.0f}"
        if self.unit == LATENCY:
            return f"{1000 * median / self.work:.3g}"
        return f"{median:.1f}"

    @property
    def peer_ratio(self) -> float | None:
        if not self.peer or self.unit == SIZE:
            return None
        return statistics.median(self.peer) / statistics.median(self.ours)

    def met(self) -> bool | None:
        """Whether the target is met (``None`` without a target or a value to compare)."""
        if self.target is None:
            return None
        if self.target.what == "ratio":
            value = self.ratio
        elif self.target.what.startswith("vs:"):
            value = self.against
        else:
            value = statistics.median(self.ours)
        return None if value is None else value <= self.target.limit

    def target_text(self) -> str:
        if self.target is None:
            return ""
        met = self.met()
        mark = "" if met is None else (" ✓" if met else " ✗")
        value = ""
        if self.target.what.startswith("vs:") and self.against is not None:
            value = f" ({self.against:.2f}x)"
        return f"{self.target.describe()}{value}{mark}"


def check_targets(results: list[Result]) -> None:
    """Fill ``against`` for targets naming another operation on the same engine."""
    by_key = {(r.engine, r.operation): r for r in results}
    for result in results:
        if result.target and result.target.what.startswith("vs:"):
            other = by_key.get((result.engine, result.target.what[3:]))
            if other is not None and other.ours:
                result.against = statistics.median(result.ours) / statistics.median(other.ours)


def timed(fn: Callable[[], Any]) -> float:
    """Seconds ``fn()`` takes (garbage collected before, so one run does not pay for another's)."""
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(
    ours: Callable[[], Any],
    raw: Callable[[], Any] | None,
    repeat: int,
    setup: Callable[[str], Any] | None = None,
) -> tuple[list[float], list[float]]:
    """Run ``ours`` and ``raw`` ``repeat`` times each, alternating which goes first.

    ``setup(side)`` runs untimed before each run (``side`` is ``"ours"`` or ``"raw"``).
    Alternating spreads the machine's changing load over both sides.
    """
    times: dict[str, list[float]] = {"ours": [], "raw": []}
    sides: list[tuple[str, Callable[[], Any]]] = [("ours", ours)] + ([("raw", raw)] if raw is not None else [])
    for run in range(repeat):
        for side, fn in sides if run % 2 == 0 else reversed(sides):
            if setup is not None:
                setup(side)
            times[side].append(timed(fn))
    return times["ours"], times["raw"]


# -- report --------------------------------------------------------------------------

NUMERIC = {3, 4, 5, 6, 7}  # right-aligned columns
HEADERS = ["operation", "engine", "unit", "ours", "raw", "ours/raw time", "peer", "peer/ours time", "target"]


def rows(results: list[Result]) -> list[list[str]]:
    out = []
    for r in results:
        ratio = r.ratio
        peer_ratio = r.peer_ratio
        unit = r.unit if r.unit != LATENCY else f"ms/{'page' if 'paginate' in r.operation else 'call'}"
        out.append(
            [
                r.operation,
                r.engine,
                unit,
                r.shown(r.ours),
                r.shown(r.raw),
                "" if ratio is None else f"{ratio:.2f}",
                r.shown(r.peer),
                "" if peer_ratio is None else f"{peer_ratio:.1f}",
                r.target_text(),
            ]
        )
    return out


def text_table(results: list[Result]) -> str:
    table = [HEADERS, *rows(results)]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADERS))]
    lines = []
    for n, row in enumerate(table):
        cells = [cell.rjust(w) if i in NUMERIC and n else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(results: list[Result]) -> str:
    align = ["---:" if i in NUMERIC else "---" for i in range(len(HEADERS))]
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join(align) + "|"]
    for row in rows(results):
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines)


def to_json(results: list[Result], meta: dict[str, Any]) -> str:
    payload = {
        "meta": meta,
        "results": [
            {
                **asdict(r),
                "ratio": r.ratio,
                "peer_ratio": r.peer_ratio,
                "met": r.met(),
                "ours_shown": r.shown(r.ours),
                "raw_shown": r.shown(r.raw),
                "peer_shown": r.shown(r.peer),
            }
            for r in results
        ],
    }
    return json.dumps(payload, indent=2, default=str)
