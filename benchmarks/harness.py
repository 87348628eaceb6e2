"""Timing, results and the report (text table, Markdown, JSON)."""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

#: How an operation's numbers are shown: as a rate of ``work`` per second, or as
#: milliseconds per unit of ``work`` (per call, per page), or as a size in MB;
#: ``CALLS`` is a rate of calls (the concurrent throughput rows).
RATE, LATENCY, SIZE, CALLS = "rows/s", "ms", "MB", "calls/s"


@dataclass
class Target:
    """A goal for a result: ``value`` compared with ``limit``; ``what`` says which value.

    Without a limit it is a comparison shown, not a goal (never met or missed).
    """

    limit: float | None
    # "ratio" (ours / raw time), "plain" (ours / plain time), "peer" (ours / peer time), "ours" (the value itself,
    # e.g. MB) or "vs:<operation>"
    what: str

    def describe(self) -> str:
        if self.what == "ratio":
            return f"time ≤ {self.limit:g}x raw"
        if self.what == "plain":
            return f"time ≤ {self.limit:g}x plain"
        if self.what == "peer":
            return f"time ≤ {self.limit:g}x peer"
        if self.what.startswith("vs:"):
            if self.limit is None:
                return f"time vs {self.what[3:]}"
            return f"≤ {self.limit:g}x {self.what[3:]}"
        return f"≤ {self.limit:g}"


#: The packages whose versions a run records (and a report quotes when present).
PACKAGES = (
    "SQLAlchemy",
    "psycopg2-binary",
    "PyMySQL",
    "pymongo",
    "mongomock",
    "asyncpg",
    "aiosqlite",
    "aiomysql",
    "asyncmy",
    "greenlet",
)

#: Every timed result with a plain column gets this target: ours no slower than
#: what a user would write without us.
NOT_SLOWER_THAN_PLAIN = Target(1.0, "plain")
#: And where the peer ran: no slower than the project we replace.
NOT_SLOWER_THAN_PEER = Target(1.0, "peer")


@dataclass
class Result:
    """One operation on one engine: seconds per run (or MB) for ours, raw, plain and the peer."""

    operation: str
    engine: str
    unit: str
    work: int
    ours: list[float]
    raw: list[float] = field(default_factory=list)
    peer: list[float] = field(default_factory=list)
    target: Target | None = None
    # What a user would write without us (SQLAlchemy ORM, a Session per call; pymongo).
    # Defaults to empty, so JSON saved before the column existed still loads.
    plain: list[float] = field(default_factory=list)
    note: str = ""
    # Filled by :func:`check_targets` for targets comparing two of our results.
    against: float | None = None

    @property
    def ratio(self) -> float | None:
        """Median of our time over the raw driver's (1.0: as fast; 2.0: twice as slow)."""
        if not self.raw or self.unit == SIZE:
            return None
        return statistics.median(self.ours) / statistics.median(self.raw)

    @property
    def plain_ratio(self) -> float | None:
        """Median of our time over plain's (above 1.0: the user's own ORM code would be faster)."""
        if not self.plain or self.unit == SIZE:
            return None
        return statistics.median(self.ours) / statistics.median(self.plain)

    def shown(self, values: Sequence[float]) -> str:
        if not values:
            return ""
        median = statistics.median(values)
        if self.unit in (RATE, CALLS):
            return f"{self.work / median:,.0f}"
        if self.unit == LATENCY:
            return f"{1000 * median / self.work:.3g}"
        return f"{median:.1f}"

    @property
    def peer_ratio(self) -> float | None:
        if not self.peer or self.unit == SIZE:
            return None
        return statistics.median(self.peer) / statistics.median(self.ours)

    @property
    def targets(self) -> list[Target]:
        """The operation's own target, then "not slower than plain" (and the peer) where timed."""
        own = [self.target] if self.target is not None else []
        own += [NOT_SLOWER_THAN_PLAIN] if self.plain_ratio is not None else []
        return own + ([NOT_SLOWER_THAN_PEER] if self.peer_ratio is not None else [])

    def met(self, target: Target | None = None) -> bool | None:
        """Whether ``target`` (default: the operation's own) is met (``None``: no target or no value)."""
        target = target or self.target
        if target is None or target.limit is None:
            return None
        if target.what == "ratio":
            value = self.ratio
        elif target.what == "plain":
            value = self.plain_ratio
        elif target.what == "peer":
            value = None if not self.peer_ratio else 1 / self.peer_ratio
        elif target.what.startswith("vs:"):
            value = self.against
        else:
            value = statistics.median(self.ours)
        return None if value is None else value <= target.limit

    def plain_met(self) -> bool | None:
        """Whether ours is no slower than plain (``None`` without a plain time)."""
        return self.met(NOT_SLOWER_THAN_PLAIN) if self.plain_ratio is not None else None

    def target_text(self) -> str:
        texts = []
        for target in self.targets:
            met = self.met(target)
            mark = "" if met is None else (" ✓" if met else " ✗")
            value = ""
            if target.what.startswith("vs:") and self.against is not None:
                value = f" ({self.against:.2f}x)"
            texts.append(f"{target.describe()}{value}{mark}")
        return "; ".join(texts)


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


class Times(NamedTuple):
    """Seconds per run of each side (empty for a side not run)."""

    ours: list[float]
    raw: list[float]
    plain: list[float]


def compare(
    ours: Callable[[], Any],
    raw: Callable[[], Any] | None,
    repeat: int,
    setup: Callable[[str], Any] | None = None,
    plain: Callable[[], Any] | None = None,
    check: Callable[[str], Any] | None = None,
    first: int = 0,
) -> Times:
    """Run ``ours``, ``raw`` and ``plain`` ``repeat`` times each, rotating which goes first.

    ``setup(side)`` runs untimed before each run and ``check(side)`` untimed after
    it (``side`` is ``"ours"``, ``"raw"`` or ``"plain"``). Rotating spreads the
    machine's changing load over the sides; ``first`` shifts the rotation (for
    callers interleaving several one-run comparisons).
    """
    times = Times([], [], [])
    sides = [(side, fn) for side, fn in (("ours", ours), ("raw", raw), ("plain", plain)) if fn is not None]
    for run in range(first, first + repeat):
        shift = run % len(sides)
        for side, fn in sides[shift:] + sides[:shift]:
            if setup is not None:
                setup(side)
            getattr(times, side).append(timed(fn))
            if check is not None:
                check(side)
    return times


# -- report --------------------------------------------------------------------------

NUMERIC = {3, 4, 5, 6, 7, 8, 9}  # right-aligned columns
HEADERS = [
    "operation",
    "engine",
    "unit",
    "ours",
    "raw",
    "ours/raw time",
    "plain",
    "ours/plain time",
    "peer",
    "peer/ours time",
    "target",
]


def rows(results: list[Result]) -> list[list[str]]:
    out = []
    for r in results:
        ratio = r.ratio
        plain_ratio = r.plain_ratio
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
                r.shown(r.plain),
                "" if plain_ratio is None else f"{plain_ratio:.2f}",
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
                "plain_ratio": r.plain_ratio,
                "peer_ratio": r.peer_ratio,
                "met": r.met(),
                "plain_met": r.plain_met(),
                "ours_shown": r.shown(r.ours),
                "raw_shown": r.shown(r.raw),
                "plain_shown": r.shown(r.plain),
                "peer_shown": r.shown(r.peer),
            }
            for r in results
        ],
    }
    return json.dumps(payload, indent=2, default=str)
