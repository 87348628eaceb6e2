"""What a value means, decided once for every engine (SPEC §6).

Writes (the SQL and Mongo row checks), filters (the operands of a parsed
filter tree) and keyset cursors all go through the rules here, so one value
stores, matches and sorts the same way on SQLite, PostgreSQL, MariaDB and
MongoDB. Where an engine cannot follow a rule, the difference is a named flag
on that plugin's ``features`` and is listed in ``docs/filters.md``.
"""

from __future__ import annotations

import decimal
import fractions
import math
import sys
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
