"""Row and value checks for SQL writes, shared by the one-row methods and ``bulk_insert``.

:class:`Checker` holds a model's field kinds and the engine's limits (from the
dialect's features) and checks a row -- or, for bulk writes, a whole column at
once: one ``set(map(type, values))`` per column on the common path instead of
a function call per value, with the same messages either way. What a value
means (64-bit integers, exact int/float/Decimal comparison, datetimes) is
db_plugins.values'; this module applies it and names the field.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import math
import uuid
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from typing import Any

from ... import values as value_rules
from ...errors import ValidationError
from ...filters import KINDS, FieldInfo, check_integer, refused
from ...values import EXACT_DOUBLE_INT, INT64_MAX, INT64_MIN, DatetimeRule
from ..generic import document_problem

__all__ = ["Checker", "NullInColumn"]

_NONE = type(None)

# Value types each field kind accepts as they are (a subset of what the kind's
# check in db_plugins.filters.KINDS accepts, and returned unchanged by it): a
# column whose set of value types fits is checked without a call per value.
_NUMBER = frozenset({int, float, decimal.Decimal})
_FAST_TYPES: dict[str, frozenset[type]] = {
    "int": frozenset({int}),
    "float": frozenset({int, float}),  # a Decimal is converted (or refused) by the float check
    "decimal": _NUMBER,
    "str": frozenset({str}),
    "bool": frozenset({bool}),
    "datetime": frozenset({dt.datetime}),
    "date": frozenset({dt.date}),
    "time": frozenset({dt.time}),
    "bytes": frozenset({bytes, bytearray, memoryview}),
    "uuid": frozenset({uuid.UUID}),
}


# Writes are stricter than filters where a column cannot hold what a filter may compare it with.
_WRITE_KINDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    **KINDS,
    "int": ("an integer", check_integer),
    "float": ("a number", value_rules.to_double),
    "decimal": ("a finite number", value_rules.to_finite_number),
}


class NullInColumn(Exception):
    """A ``None`` in a NOT NULL column of a batch (:meth:`Checker.column` says which field)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class Checker:
    """Field values checked against a model's field kinds, one row or one column at a time.

    Raises :class:`~db_plugins.ValidationError` naming the field; a kind may
    convert a value (a UUID given as a string), which is then what gets stored.
    Fields of kind ``"any"`` (types the filter language does not know, such as
    JSON) are left to SQLAlchemy's own type handling.
    """

    def __init__(
        self,
        schema: Mapping[str, FieldInfo],
        model_name: str,
        *,
        nul_in_strings: bool = True,
        max_lengths: Mapping[str, int] | None = None,
        documents: Iterable[str] = (),
        max_nesting: int = 100,
        refused_floats: frozenset[str] = frozenset(),
        decimals: Mapping[str, tuple[int | None, int | None]] | None = None,
        decimal_digits: int | None = None,
        int_ranges: Mapping[str, tuple[int, int]] | None = None,
        datetimes: Mapping[str, DatetimeRule] | None = None,
        required: Iterable[str] = (),
        not_null: Iterable[str] = (),
    ) -> None:
        self.model_name = model_name
        #: Datetime fields: each value converted (UTC, the column's precision) as it is stored.
        self.datetime_rules: dict[str, DatetimeRule] = dict(datetimes or {})
        self._kinds = {key: info.kind for key, info in schema.items()}
        # NOT NULL columns the database does not fill (``not_null``), and those of them
        # without any default (``required``): refused as None / missing before anything is sent.
        self.required = tuple(required)
        self.not_null = frozenset(not_null)
        # None for "any": nothing to check. Otherwise the exact types accepted without a call.
        self._fast: dict[str, frozenset[type] | None] = {
            key: None if kind == "any" else _FAST_TYPES.get(kind, frozenset()) | {_NONE}
            for key, kind in self._kinds.items()
        }
        # One-row writes: None for a NOT NULL field goes to value(), which refuses it.
        self._row_fast = {
            key: (frozenset() if fast is None else fast - {_NONE}) if key in self.not_null else fast
            for key, fast in self._fast.items()
        }
        # What a value's type does not tell: an int beyond 64 bits (no engine stores
        # one; drivers fail in their own ways), a NUL where strings cannot hold it,
        # a string longer than its column where the engine would store it anyway.
        self._limits: dict[str, Callable[[Sequence[Any]], str | None]] = {}
        # A one-row write's common value, passed without the column's check: a test in one
        # expression that only ever says yes to what the check would pass (anything else
        # still goes to the check, which decides).
        self._plainly_within: dict[str, Callable[[Any], bool]] = {}
        max_lengths = max_lengths or {}
        for key, kind in self._kinds.items():
            if kind == "int":
                low, high = (int_ranges or {}).get(key, (INT64_MIN, INT64_MAX))
                self._limits[key] = functools.partial(_outside_int64, low=low, high=high)
                self._plainly_within[key] = lambda v, low=low, high=high: type(v) is int and low <= v <= high
            elif kind == "float":
                self._limits[key] = functools.partial(_float_problem, refused=refused_floats)
                self._plainly_within[key] = lambda v: type(v) is float and v - v == 0.0 and v != 0  # finite, not ±0
            elif kind == "decimal":
                precision, scale = (decimals or {}).get(key, (None, None))
                self._limits[key] = functools.partial(
                    _decimal_problem, precision=precision, scale=scale, digits=decimal_digits
                )
            elif kind == "str":  # lone surrogates on every engine (no driver encodes them)
                longest = max_lengths.get(key)
                self._limits[key] = functools.partial(_string_problem, nul=nul_in_strings, max_length=longest)
                self._plainly_within[key] = lambda v, longest=longest or INT64_MAX: (
                    type(v) is str and v.isascii() and "\x00" not in v and len(v) <= longest
                )
        for key in documents:  # JSON columns: a hostile depth would overflow the encoder's stack
            self._limits[key] = functools.partial(_document_problem, max_nesting=max_nesting)

    def kind(self, key: str) -> str | None:
        """The kind of field ``key`` (``None`` if there is no such field)."""
        return self._kinds.get(key)

    def unknown(self, key: Any, what: str) -> ValidationError:
        return ValidationError(f"{what}: unknown field {key!r} for {self.model_name}")

    def value(self, key: str, value: Any, what: str) -> Any:
        """``value`` checked (and possibly converted) for field ``key``, which must exist."""
        if value is None and key in self.not_null:
            raise self.null(key, what)
        fast = self._fast[key]
        if fast is None or type(value) in fast:
            return value
        description, check = _WRITE_KINDS[self._kinds[key]]
        try:
            return check(value)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"{what}: field {key!r} of {self.model_name} expects {description}, got {refused(value, exc)}"
            ) from None

    def null_problem(self, key: str) -> str:
        return f"field {key!r} of {self.model_name} is required (got None)"

    def null(self, key: str, what: str) -> ValidationError:
        return ValidationError(f"{what}: {self.null_problem(key)}")

    def missing(self, keys: Container[str]) -> str | None:
        """The first required field not among ``keys``, or ``None``."""
        return next((key for key in self.required if key not in keys), None)

    def require(self, data: Mapping[str, Any], what: str) -> None:
        """Refuse a new row lacking a required field or giving None for a NOT NULL one."""
        key = self.missing(data)
        if key is not None:
            raise ValidationError(f"{what}: missing required field {key!r} for {self.model_name}")
        for key in self.not_null:
            if key in data and data[key] is None:
                raise self.null(key, what)

    def row(self, data: Mapping[str, Any], what: str) -> dict[str, Any]:
        """A new dict of ``data``'s checked values; unknown fields and None for a NOT NULL field are refused."""
        out = {}
        fast = self._row_fast
        limits = self._limits
        within = self._plainly_within
        for key, value in data.items():
            if key not in fast:
                raise self.unknown(key, what)
            allowed = fast[key]
            if key in within and within[key](value):
                out[key] = value
                continue
            out[key] = value if allowed is None or type(value) in allowed else self.value(key, value, what)
            if key in self.datetime_rules:
                out[key] = self._datetime(key, (out[key],), what)[0]
            if key in limits:
                self._limit(key, (out[key],), what)
                if value == 0 and type(value) is float:
                    out[key] = 0.0  # -0.0: see db_plugins.values.to_double
        return out

    def column(self, key: str, values: Sequence[Any], what: str, not_null: bool = False) -> Sequence[Any]:
        """``values`` of field ``key`` checked: returned as they are on the common path.

        One ``set(map(type, values))`` serves every test of the column; with
        ``not_null``, a ``None`` among them raises :class:`NullInColumn` (the
        caller knows which row that is).
        """
        fast = self._fast[key]
        types = set(map(type, values))
        if not_null and _NONE in types:
            raise NullInColumn(key)
        if fast is not None and not types <= fast:
            values = [v if type(v) in fast else self.value(key, v, what) for v in values]
            types = set(map(type, values))
        if key in self.datetime_rules:
            values = self._datetime(key, values, what)
        if key in self._limits:
            self._limit(key, values, what, types)
            if float in types and 0.0 in values and self._kinds[key] == "float":  # -0.0 == 0.0: one pass in C
                values = [0.0 if v == 0 and type(v) is float else v for v in values]
        return values

    def first_refused(self, keys: Sequence[str], columns: Sequence[Sequence[Any]], what: str) -> tuple[int, str] | None:
        """The index of the first row of ``columns`` (one per field of ``keys``) that
        :meth:`row` refuses, and why (the error's text after ``what``); ``None`` if none is.

        For a batch :meth:`column` refused as a whole: the slow path, taken on error only.
        """
        for index, row in enumerate(zip(*columns)):
            try:
                self.row(dict(zip(keys, row)), what)
            except ValidationError as exc:
                return index, str(exc).removeprefix(f"{what}: ")
        return None

    def _datetime(self, key: str, values: Sequence[Any], what: str) -> Sequence[Any]:
        try:
            return self.datetime_rules[key].column(values)
        except ValueError as exc:
            raise ValidationError(f"{what}: field {key!r} of {self.model_name}: {exc}") from None

    def _limit(self, key: str, values: Sequence[Any], what: str, types: set[type] | None = None) -> None:
        problem = self._limits[key](values, types=types)
        if problem:
            raise ValidationError(f"{what}: field {key!r} of {self.model_name}: {problem}")

    def keys(self, keys: Iterable[Any], what: str) -> None:
        """Refuse any key that is not a field."""
        for key in keys:
            if key not in self._fast:
                raise self.unknown(key, what)


def _only(values: Sequence[Any], kind: type, types: set[type] | None = None) -> Sequence[Any]:
    """The values of type ``kind`` among ``values`` (whose set of types is ``types``, when known),
    without a Python loop when that is all of them."""
    if types is None:
        types = set(map(type, values))
    if kind not in types:
        return ()
    return values if len(types) == 1 else [v for v in values if type(v) is kind]


def _outside_int64(
    values: Sequence[Any], low: int = INT64_MIN, high: int = INT64_MAX, types: set[type] | None = None
) -> str | None:
    """Why an int among ``values`` cannot be stored in ``low .. high``, or ``None`` (min/max: one pass in C)."""
    ints = _only(values, int, types)
    if ints and (min(ints) < low or max(ints) > high):
        bad = next(v for v in ints if not low <= v <= high)
        shown = repr(bad) if len(repr(bad)) <= 30 else repr(bad)[:27] + "..."
        if (low, high) == (INT64_MIN, INT64_MAX):
            return f"the integer {shown} is outside the 64-bit range ({INT64_MIN} .. {INT64_MAX})"
        return f"the integer {shown} is outside the column's range ({low} .. {high})"
    return None


def _float_problem(values: Sequence[Any], refused: frozenset[str], types: set[type] | None = None) -> str | None:
    """An int no double equals (past 2**53), or a float the engine cannot store
    (``refused``: ``"nan"``, ``"inf"``)."""
    ints = _only(values, int, types)
    if ints and (min(ints) < -EXACT_DOUBLE_INT or max(ints) > EXACT_DOUBLE_INT):
        for v in ints:
            try:
                value_rules.to_double(v)
            except ValueError as exc:
                return f"the integer {exc.args[0]}"
    if not refused:
        return None
    floats = _only(values, float, types)
    for name, test in (("nan", math.isnan), ("inf", math.isinf)):
        if name in refused and floats and any(map(test, floats)):
            return f"{name} cannot be stored in this database"
    return None


def _decimal_problem(
    values: Sequence[Any],
    precision: int | None,
    scale: int | None,
    digits: int | None,
    types: set[type] | None = None,
) -> str | None:
    """Why a number among ``values`` cannot be stored exactly in a decimal column, or ``None``.

    No engine's DECIMAL holds NaN or an infinity (MariaDB's and SQLite's have
    none); a ``NUMERIC(precision, scale)`` column would round a finer fraction
    and refuse a longer whole part; ``digits`` is the most significant digits
    the engine keeps whatever the column says (SQLite stores a double: 15).
    """
    for kind in (decimal.Decimal, float):
        if not all(map(value_rules.is_finite, _only(values, kind, types))):
            return "a NaN or an infinity cannot be stored in a decimal field"
    if precision is None and scale is None and digits is None:
        return None
    for value in values:
        if value is None:
            continue
        problem = value_rules.decimal_problem(value, precision, scale, digits)
        if problem:
            return problem
    return None


def _document_problem(values: Sequence[Any], max_nesting: int, types: set[type] | None = None) -> str | None:
    """Why a JSON document among ``values`` cannot be stored, or ``None`` (JSON has no NaN)."""
    for value in values:
        if isinstance(value, (dict, list, float)):
            problem = document_problem(value, finite=True, max_nesting=max_nesting)
            if problem:
                return problem
    return None


def _string_problem(
    values: Sequence[Any], nul: bool, max_length: int | None, types: set[type] | None = None
) -> str | None:
    """Why a string among ``values`` cannot be stored (a lone surrogate, a NUL where ``nul``
    is false, more than ``max_length`` characters), or ``None``."""
    strings = _only(values, str, types)
    if not strings:
        return None
    joined = "".join(strings)
    if not nul and "\x00" in joined:  # one search in C over the whole column
        return "the string holds a NUL (\\x00) character, which this database cannot store in text"
    if not joined.isascii():  # (O(1) in CPython)
        try:
            joined.encode("utf-8")
        except UnicodeEncodeError:
            return "the string is not valid Unicode (it holds a lone surrogate)"
    if max_length is not None:
        longest = max(map(len, strings))
        if longest > max_length:
            return f"a string of {longest} characters is too long for the column (at most {max_length})"
    return None
