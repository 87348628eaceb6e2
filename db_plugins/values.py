"""What a value means, decided once for every engine (SPEC §6).

Writes (the SQL and Mongo row checks), filters (the operands of a parsed
filter tree) and keyset cursors all go through the rules here, so one value
stores, matches and sorts the same way on SQLite, PostgreSQL, MariaDB and
MongoDB. Where an engine cannot follow a rule, the difference is a named flag
on that plugin's ``features`` and is listed in ``docs/filters.md``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from operator import attrgetter, methodcaller
from typing import Any

__all__ = ["INT64_MIN", "INT64_MAX"]

#: Every engine stores integers in 64 bits (BSON int64, BIGINT, SQLite INTEGER).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


# -- Datetimes -----------------------------------------------------------------------
#
# MongoDB's (pymongo's) rules, on every engine:
#
# * an aware datetime means an instant: for a naive field it is converted to UTC
#   and stored naive (pymongo's encoder does this on MongoDB; a SQL driver would
#   drop the offset or apply the session's time zone instead);
# * a naive datetime is taken as UTC, also by a ``DateTime(timezone=True)``
#   column, which reads back aware in UTC;
# * a datetime keeps as many fractional-second digits as its field stores
#   (BSON: 3, SQL: 6, MariaDB: the column's ``fsp``), finer digits are cut
#   (truncated, never rounded) on writes and on filter operands alike, so an
#   equality search for a written value finds it and ``$gt`` a cut-off part
#   never matches the value it was cut from;
# * a value outside the field's range (once in UTC) is refused, never stored as
#   something else.

__all__ += ["UTC", "DATETIME_RANGE", "DatetimeRule", "utc_naive", "truncate_datetime", "check_datetime"]

UTC = _dt.UTC
#: The datetimes every engine stores (naive UTC): Python's own range, years 1 to 9999.
DATETIME_RANGE = (_dt.datetime.min, _dt.datetime.max)
_TZINFO = attrgetter("tzinfo")
_MICROSECOND = attrgetter("microsecond")
_WHOLE_SECONDS = methodcaller("replace", microsecond=0)
_NOT_AWARE = frozenset({None})


def utc_naive(value: _dt.datetime) -> _dt.datetime:
    """``value`` as a naive UTC datetime: an aware one converted, a naive one as it is.

    Raises ``ValueError`` when the instant falls outside years 1..9999 in UTC
    (``datetime(1, 1, 1, tzinfo=+02:00)`` is in year 0).
    """
    if value.tzinfo is None:
        return value
    offset = value.utcoffset()
    if offset is None:  # a tzinfo that knows no offset: naive, as Python itself says
        return value.replace(tzinfo=None)
    try:
        return (value.replace(tzinfo=None) - offset).replace(fold=0)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is outside years 1..9999 once converted to UTC") from None


def truncate_datetime(value: _dt.datetime, digits: int) -> _dt.datetime:
    """``value`` with only ``digits`` (0-6) fractional-second digits: the finer part cut, not rounded."""
    if digits >= 6:
        return value
    step = 10 ** (6 - digits)
    cut = value.microsecond % step
    return value.replace(microsecond=value.microsecond - cut) if cut else value


class DatetimeRule:
    """How one datetime field stores and compares values (see the section comment).

    ``digits``: fractional-second digits the field keeps; ``aware``: the field
    reads back aware UTC datetimes (``DateTime(timezone=True)``); ``bounds``:
    the naive UTC range it stores (the engine's ``features.datetime_range``).
    Calling the rule checks one value (``TypeError``/``ValueError``) and returns
    what is stored and compared: naive UTC, or aware UTC for an ``aware`` field.
    """

    __slots__ = ("_plain", "aware", "digits", "high", "low")

    def __init__(
        self,
        digits: int = 6,
        aware: bool = False,
        bounds: tuple[_dt.datetime, _dt.datetime] = DATETIME_RANGE,
    ) -> None:
        self.digits = digits
        self.aware = aware
        self.low, self.high = bounds
        # Naive values pass as they are: nothing to convert, cut or range-check.
        self._plain = digits >= 6 and not aware and (self.low, self.high) == DATETIME_RANGE

    def __call__(self, value: Any) -> _dt.datetime:
        if not isinstance(value, _dt.datetime):
            raise TypeError
        value = utc_naive(value)
        if not self.low <= value <= self.high:
            raise ValueError(f"{value.isoformat()} (UTC) is outside the range this database stores")
        value = truncate_datetime(value, self.digits)
        return value.replace(tzinfo=UTC) if self.aware else value

    def column(self, values: Sequence[Any]) -> Sequence[Any]:
        """``values`` (datetimes and ``None``) checked; the same sequence when none needs a change.

        The common column -- naive values within range -- is recognised by a few
        passes in C (``set(map(...))``, ``min``/``max``, ``any``), without a call
        per value; whole seconds (MariaDB's plain ``DATETIME``) are then cut by a
        plain ``replace``.
        """
        if not self.aware:
            present = list(filter(None, values))  # a datetime is never falsy, None is
            if set(map(_TZINFO, present)) <= _NOT_AWARE and (
                self._plain or not present or (self.low <= min(present) and max(present) <= self.high)
            ):
                if self.digits >= 6:
                    return values
                if self.digits == 0:
                    if not any(map(_MICROSECOND, present)):
                        return values
                    if len(present) == len(values):  # no NULL: one map in C
                        return list(map(_WHOLE_SECONDS, values))
                    return [v if v is None else v.replace(microsecond=0) for v in values]
        return [None if v is None else self(v) for v in values]

    def __repr__(self) -> str:
        return f"DatetimeRule(digits={self.digits}, aware={self.aware})"


_DEFAULT_RULE = DatetimeRule()


def check_datetime(value: Any) -> _dt.datetime:
    """A filter operand or value for a naive datetime field: naive UTC (``TypeError``/``ValueError``)."""
    return _DEFAULT_RULE(value)
