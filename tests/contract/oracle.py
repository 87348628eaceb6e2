"""The filter and ordering semantics of SPEC §3, evaluated in plain Python.

The differential tests compare every engine with this oracle, so "the same
rows on every engine" is checked against one written-down meaning rather than
against whichever engine happens to be first.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from typing import Any

MISSING = object()  # a field absent from a Mongo document (NULL on SQL)


def _get(row: Mapping[str, Any], field: str) -> Any:
    value = row.get(field, MISSING)
    return None if value is MISSING else value


def _eq(value: Any, target: Any) -> bool:
    # Fields are typed, so only ints and floats ever meet (and compare by value).
    if target is None:
        return value is None
    return value is not None and value == target


def _cmp(value: Any, target: Any, op: str) -> bool:
    if value is None:
        return False
    return {"gt": value > target, "gte": value >= target, "lt": value < target, "lte": value <= target}[op]


def matches(row: Mapping[str, Any], filter_by: Mapping[str, Any] | None) -> bool:
    """Whether ``row`` matches ``filter_by`` under the portable semantics."""
    if not filter_by:
        return True
    for key, condition in filter_by.items():
        if key == "$and":
            ok = all(matches(row, sub) for sub in condition)
        elif key == "$or":
            ok = any(matches(row, sub) for sub in condition)
        else:
            ok = _field_matches(_get(row, key), condition)
        if not ok:
            return False
    return True


def _field_matches(value: Any, condition: Any) -> bool:
    if not isinstance(condition, Mapping):
        return _eq(value, condition)
    for op, target in condition.items():
        op = op[1:]
        if op == "eq":
            ok = _eq(value, target)
        elif op == "ne":
            ok = not _eq(value, target)
        elif op == "in":
            ok = any(_eq(value, t) for t in target)
        elif op == "nin":
            ok = not any(_eq(value, t) for t in target)
        elif op == "exists":
            ok = (value is not None) == target
        else:
            ok = _cmp(value, target, op)
        if not ok:
            return False
    return True


def _compare(a: Any, b: Any) -> int:
    """Nulls lowest; otherwise natural (code point, numeric) order."""
    if a is None or b is None:
        return (a is not None) - (b is not None)
    return (a > b) - (a < b)


def order(rows: Sequence[Mapping[str, Any]], order_by: Sequence[tuple[str, bool]]) -> list[Mapping[str, Any]]:
    """``rows`` sorted by ``((field, descending), ...)``."""

    def cmp(x: Mapping[str, Any], y: Mapping[str, Any]) -> int:
        for field, descending in order_by:
            result = _compare(_get(x, field), _get(y, field))
            if result:
                return -result if descending else result
        return 0

    return sorted(rows, key=functools.cmp_to_key(cmp))


def select(
    rows: Sequence[Mapping[str, Any]],
    filter_by: Mapping[str, Any] | None,
    order_by: Sequence[tuple[str, bool]],
    datetime_digits: int = 6,
) -> list[Mapping[str, Any]]:
    """The rows matching ``filter_by`` in ``order_by``, datetimes as stored with ``datetime_digits``."""
    rows = [stored_values(r, datetime_digits) for r in rows]
    filter_by = stored_values(filter_by, datetime_digits)
    return order([r for r in rows if matches(r, filter_by)], order_by)


# -- datetimes (pymongo's rules) -------------------------------------------------------


def stored_datetime(value: dt.datetime, digits: int) -> dt.datetime:
    """What a datetime field keeps of ``value``: its instant in naive UTC (a naive value
    is UTC), with ``digits`` fractional-second digits (the finer part cut, as pymongo cuts
    to milliseconds) -- for stored values and filter operands alike."""
    if value.utcoffset() is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    step = 10 ** (6 - digits)
    return value.replace(microsecond=value.microsecond // step * step, tzinfo=None)


def stored_values(value: Any, digits: int) -> Any:
    """``value`` (a row, a filter, a list of operands) with every datetime as :func:`stored_datetime` gives it."""
    if isinstance(value, dt.datetime):
        return stored_datetime(value, digits)
    if isinstance(value, Mapping):
        return {k: stored_values(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(stored_values(v, digits) for v in value)
    return value
