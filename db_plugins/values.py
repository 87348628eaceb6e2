"""What a value means, decided once for every engine (SPEC §6).

Writes (the SQL and Mongo row checks), filters (the operands of a parsed
filter tree) and keyset cursors all go through the rules here, so one value
stores, matches and sorts the same way on SQLite, PostgreSQL, MariaDB and
MongoDB. Where an engine cannot follow a rule, the difference is a named flag
on that plugin's ``features`` and is listed in ``docs/filters.md``.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import fractions
import math
import sys
from collections.abc import Sequence
from operator import attrgetter, methodcaller
from typing import Any

__all__ = [
    "InexactValue",
    "INT64_MIN",
    "INT64_MAX",
    "as_double",
    "as_integer",
    "double_bounds",
    "integer_bounds",
    "is_nan",
    "is_number",
    "to_double",
    "to_finite_number",
    "is_finite",
    "decimal_problem",
]

#: Every engine stores integers in 64 bits (BSON int64, BIGINT, SQLite INTEGER).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


# -- numbers ---------------------------------------------------------------------
#
# MongoDB compares an int, a double and a Decimal128 by their exact values; SQL
# engines convert one side to the other's type first (an int past 2**53 becomes
# the nearest double, a double compared with an integer column is rounded), and
# mongomock stores what it is given. Writes refuse a value a field cannot hold
# exactly instead of letting an engine round it; filters rewrite a comparison
# whose operand the field cannot hold into one with an operand it can hold that
# selects the same rows (db_plugins.filters.exact_compare).

#: Every integer up to this magnitude is a double.
EXACT_DOUBLE_INT = 2**53


class InexactValue(ValueError):
    """A number the field cannot hold exactly (the message says why)."""


def is_number(value: Any) -> bool:
    """An int, float or Decimal (not a bool)."""
    return isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool)


def as_double(value: Any) -> float | None:
    """``value`` (an int, float or Decimal) as the double equal to it, or ``None`` when no double is."""
    if type(value) is float:
        return value
    if isinstance(value, int):
        if -EXACT_DOUBLE_INT <= value <= EXACT_DOUBLE_INT:
            return float(value)
        try:
            double = float(value)
        except OverflowError:
            return None
        return double if int(double) == value else None
    if isinstance(value, decimal.Decimal):
        if value.is_nan():
            return None
        double = float(value)
        if math.isinf(double):
            return double if value.is_infinite() else None
        return double if decimal.Decimal(double) == value else None
    return float(value)


def as_integer(value: Any) -> int | None:
    """``value`` (an int, float or Decimal) as the 64-bit integer equal to it, or ``None``."""
    if type(value) is int:
        return value if INT64_MIN <= value <= INT64_MAX else None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, decimal.Decimal) and not value.is_finite():
        return None
    if value != int(value):
        return None
    whole = int(value)
    return whole if INT64_MIN <= whole <= INT64_MAX else None


def to_double(value: Any) -> float:
    """``value`` for a float field: the double equal to it, or ``ValueError`` naming why not.

    -0.0 is stored as 0.0 on every engine (MariaDB has no negative zero, and
    PostgreSQL's drivers send it as a literal that loses the sign).
    """
    double = as_double(value) if is_number(value) else None
    if double is None:
        if not is_number(value):
            raise TypeError
        if isinstance(value, decimal.Decimal) and value.is_nan():
            raise ValueError("NaN")
        raise InexactValue(f"{_short(value)} has no exact float value (nearest: {float(value)!r})")
    return double + 0.0


def is_finite(value: Any) -> bool:
    """A number that is neither NaN nor an infinity (ints always are)."""
    return value.is_finite() if isinstance(value, decimal.Decimal) else math.isfinite(value)


def to_finite_number(value: Any) -> Any:
    """``value`` for a decimal field: any finite number (NaN and infinities: ``ValueError``)."""
    if not is_number(value):
        raise TypeError
    if not is_finite(value):
        raise ValueError("NaN or an infinity")
    return value


def decimal_problem(value: Any, precision: int | None, scale: int | None, digits: int | None) -> str | None:
    """Why a DECIMAL(precision, scale) column keeping at most ``digits`` significant
    digits cannot hold ``value`` exactly, or ``None``. A float counts as its shortest form."""
    number = decimal.Decimal(repr(value)) if isinstance(value, float) else decimal.Decimal(value)
    if number.is_zero():
        return None
    exact = decimal.Context(prec=len(number.as_tuple().digits))  # normalize() must not round
    _sign, figures, exponent = number.normalize(exact).as_tuple()
    fraction = max(0, -exponent)
    whole = len(figures) + exponent  # digits before the point (may be <= 0)
    if scale is not None and fraction > scale:
        return f"{_short(value)} has more than {scale} digits after the point (the column would round it)"
    if precision is not None and whole > precision - (scale or 0):
        return f"{_short(value)} has more than {precision - (scale or 0)} digits before the point"
    if digits is not None and len(figures) > digits:
        return f"{_short(value)} has more than the {digits} significant digits this database keeps"
    return None


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 30 else text[:27] + "..."


def is_nan(value: Any) -> bool:
    return (isinstance(value, float) and math.isnan(value)) or (isinstance(value, decimal.Decimal) and value.is_nan())


def double_bounds(value: Any) -> tuple[Any, Any]:
    """The largest double below and the smallest double above ``value``, which no double equals."""
    exact = fractions.Fraction(value)
    nearest = float(value)
    if math.isinf(nearest):
        biggest = sys.float_info.max
        return (biggest, math.inf) if nearest > 0 else (-math.inf, -biggest)
    if fractions.Fraction(nearest) < exact:
        return nearest, math.nextafter(nearest, math.inf)
    return math.nextafter(nearest, -math.inf), nearest


def integer_bounds(value: Any) -> tuple[Any, Any]:
    """The largest integer below and the smallest above ``value``, which no integer
    within 64 bits equals (a fraction, a whole number beyond 64 bits, an infinity).

    A bound may lie beyond the 64-bit range, or be an infinity: the caller decides
    what every stored integer is then on one side of.
    """
    if math.isinf(value):
        return value, value
    below, above = math.floor(value), math.ceil(value)
    if below == above:  # a whole number outside the 64-bit range
        below, above = below - 1, above + 1
    return below, above


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
