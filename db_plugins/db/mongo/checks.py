"""Checking the rows and values a write sends, shared by single-row and bulk writes.

:class:`RowChecker` checks one row (``insert``, ``update``, ``get_or_create``,
each row of ``bulk_insert``): its fields against the model
(:func:`~db_plugins.db.mongo.models.validate`), then what the server can
store (``features.decimal128``, ``features.nonfinite_floats``, nested
documents free of operator keys). Everything is refused before anything of
the call is sent, with a :class:`~db_plugins.ValidationError` naming the row
and the field.

Its :meth:`RowChecker.documents` is ``bulk_insert``'s common case checked a
column at a time: plain dicts that all give the same fields. Checking a row
field by field costs a few function calls a value, more than the driver's own
encoding of it. When every row of a batch is a plain dict with the same keys
and every value is of a type its field stores as it is, one
``set(map(type, column))`` per field (and ``min``/``max`` for the 64-bit
integer range, ``isfinite`` where the server refuses NaN) proves what the
row-by-row check would, and the documents need no conversion. Anything else —
an unknown field, a missing required one, a value to convert or refuse —
sends the batch through the row-by-row check, which names the row and the
field at fault.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from operator import attrgetter, itemgetter
from typing import Any

from bson import ObjectId

from ...errors import UnsupportedOperation, ValidationError
from ...values import INT64_MAX, INT64_MIN
from ..generic import document_problem
from .models import ID, BaseModel, to_bson, to_document, validate

__all__ = ["RowChecker", "ColumnChecker"]


class RowChecker:
    """The checks of one model's writes on one connection's engine (its ``features``)."""

    def __init__(self, model: type[BaseModel], features: Any) -> None:
        self.model = model
        self.features = features
        self.model_name = model.__name__
        self.key = model.__primary_key__ or ID
        self._decimals = [n for n, f in model.__fields__.items() if f.spec.kind == "decimal"]
        self._columns = ColumnChecker(model, finite_floats=not features.nonfinite_floats)

    def row(self, obj: Any, what: str, *, partial: bool = False) -> dict[str, Any]:
        """Field values of a dict or an instance of this model, checked (defaults added unless ``partial``)."""
        if isinstance(obj, BaseModel) and not isinstance(obj, self.model):
            raise ValidationError(f"{what}: expected a {self.model_name} instance or a dict, got {type(obj).__name__}")
        if not isinstance(obj, Mapping):
            raise ValidationError(f"{what}: expected a {self.model_name} instance or a dict, got {type(obj).__name__}")
        values = validate(self.model, obj, what, partial=partial)
        features = self.features
        if self._decimals and not features.decimal128:
            for name in self._decimals:
                if values.get(name) is not None:
                    raise UnsupportedOperation(
                        f"{what}: field {name!r} of {self.model_name} holds a Decimal, "
                        f"which {features.describe()} cannot store"
                    )
        # Nested documents are stored as literal data: no operator keys, nothing the encoder
        # or the server would choke on (refused here, before any row of the call is sent).
        finite = not features.nonfinite_floats
        for name, value in values.items():
            if type(value) is float and value - value == 0:  # the common case: a finite float
                continue
            if isinstance(value, (dict, list)) or (finite and isinstance(value, float)):
                problem = document_problem(value, bson=True, finite=finite)
                if problem:
                    raise ValidationError(f"{what}: field {name!r} of {self.model_name}: {problem}")
        return values

    def changes(self, attrs: Mapping[str, Any], what: str, key: Any = None) -> dict[str, Any]:
        """``attrs`` checked for an update, as stored ``$set`` values (the key may not change)."""
        if not isinstance(attrs, Mapping):
            raise ValidationError(f"{what}: attrs must be a dict of field values, got {type(attrs).__name__}")
        values = self.row(attrs, what, partial=True)
        name = self.key
        if name in values:
            if key is None or values[name] != key:
                raise ValidationError(f"{what}: {name!r} is the key of {self.model_name} and cannot be changed")
            del values[name]
        return to_document(self.model, values)

    def key_of(self, instance: Any, what: str) -> Any:
        """The stored key of ``instance`` (an instance of this model read or written before)."""
        if isinstance(instance, BaseModel) and not isinstance(instance, self.model):
            raise ValidationError(f"{what}: expected a {self.model_name} instance, got {type(instance).__name__}")
        if not isinstance(instance, dict):
            raise ValidationError(f"{what}: expected a {self.model_name} instance, got {type(instance).__name__}")
        key = instance.get(self.key)
        if key is None:
            raise ValidationError(f"{what}: the {self.model_name} has no {self.key!r} value (was it stored?)")
        return key

    def documents(self, rows: list[Any]) -> list[dict[str, Any]] | None:
        """``rows`` made the stored documents by the column check, or ``None``: check them row by row.

        ``rows`` must be the caller's own copies: they are changed in place.
        """
        return self._columns.documents(rows)


_NONE = type(None)
# Types a field of that type stores unchanged. A naive datetime is truncated to the
# millisecond by the BSON encoder exactly as the row check does.
_STORED_AS_IS: dict[Any, type] = {
    str: str,
    int: int,
    float: float,
    bool: bool,
    dt.datetime: dt.datetime,
    ObjectId: ObjectId,
}
_PLANS_KEPT = 64


class ColumnChecker:
    """Documents for batches of one model's rows, or ``None`` when a batch needs the row-by-row check."""

    def __init__(self, model: type[BaseModel], finite_floats: bool) -> None:
        self.model = model
        self.finite_floats = finite_floats
        self._plans: dict[tuple[Any, ...], Any] = {}

    def documents(self, rows: list[Any]) -> list[dict[str, Any]] | None:
        """``rows`` made the stored documents, or ``None`` (then left as they were).

        ``rows`` must be the caller's own copies: they are changed in place.
        """
        first = rows[0]
        if type(first) is not dict or not first:
            return None
        keys = tuple(first)
        plan = self._plans.get(keys)
        if plan is None:
            if len(self._plans) >= _PLANS_KEPT:
                self._plans.clear()
            plan = self._plans[keys] = self._plan(keys)
        if not plan:
            return None
        columns, defaults, renamed = plan
        width = len(keys)
        if not all(type(row) is dict and len(row) == width for row in rows):
            return None
        try:
            values = list(map(itemgetter(*keys), rows)) if width > 1 else [(row[keys[0]],) for row in rows]
        except KeyError:
            return None
        for column, (accepted, is_int, is_float) in zip(zip(*values), columns):
            types = set(map(type, column))
            if not types <= accepted:
                return None
            if is_int and int in types:
                numbers = [v for v in column if v is not None] if _NONE in types else column
                if min(numbers) < INT64_MIN or max(numbers) > INT64_MAX:
                    return None
            if is_float and float in types:
                numbers = [v for v in column if v is not None] if _NONE in types else column
                if self.finite_floats and not all(map(math.isfinite, numbers)):
                    return None
                if 0.0 in numbers and any(math.copysign(1.0, v) < 0 for v in numbers if v == 0):
                    return None  # -0.0 is stored as 0.0: the row check converts it
            if dt.datetime in types and not _naive(column):
                return None  # the row check converts an aware datetime to UTC (refusing one beyond year 9999)
            if str in types and not _valid_text([v for v in column if v is not None] if _NONE in types else column):
                return None  # a lone surrogate: the row check names the row
        fixed = {name: value.value for name, value in defaults.items() if type(value) is _Constant}
        made = [(name, make) for name, make in defaults.items() if type(make) is not _Constant]
        rename = renamed in first
        for row in rows:
            if rename:
                row[ID] = row.pop(renamed)
            if fixed:
                row.update(fixed)
            for name, make in made:
                row[name] = make()
        return rows

    def _plan(self, keys: tuple[Any, ...]) -> Any:
        """What to check per column for rows giving ``keys``; ``False`` when the row check must run."""
        fields = self.model.__fields__
        pk = self.model.__primary_key__
        columns = []
        for key in keys:
            field = fields.get(key) if isinstance(key, str) else None
            if field is None:
                return False
            stored = _STORED_AS_IS.get(field.type)
            if stored is None:
                return False
            accepted = frozenset({stored} if field.required else {stored, _NONE})
            columns.append((accepted, stored is int, stored is float))
        defaults: dict[str, Any] = {}
        for name, field in fields.items():
            if name in keys:
                continue
            if field.has_default:
                default = _default(field, self.model.__name__, self.finite_floats)
                if default is None:
                    return False
                defaults[name] = default
            elif field.required and not field.generated:
                return False
        return columns, {(ID if name == pk else name): value for name, value in defaults.items()}, pk


def _default(field: Any, model: str, finite_floats: bool) -> Any:
    """A checked stored constant, or a function making one per document; ``None``: leave it to the row check."""
    if field.type is dt.date:
        to_stored = to_bson  # a date is stored as a datetime at midnight
    elif field.type in _STORED_AS_IS and not (field.type is float and finite_floats):
        to_stored = None
    else:
        return None  # a default to convert or refuse case by case
    if callable(field.default):

        def make() -> Any:
            value = field.check(field.default_value(), model, "bulk_insert default")
            return to_stored(value) if to_stored else value

        return make
    try:
        value = field.check(field.default, model, "bulk_insert default")
    except ValidationError:
        return None  # the row check names the row
    return _Constant(to_stored(value) if to_stored else value)


def _naive(column: Any) -> bool:
    """Every datetime of ``column`` is naive (one pass in C; ``None`` is falsy, a datetime never)."""
    return set(map(_TZINFO, filter(None, column))) <= _NO_TZINFO


_TZINFO = attrgetter("tzinfo")
_NO_TZINFO = frozenset({None})


def _valid_text(strings: Any) -> bool:
    """Whether every string encodes as UTF-8 (no lone surrogate): one join and an O(1) ASCII test in C."""
    joined = "".join(strings)
    if joined.isascii():
        return True
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Constant:
    """A default's stored value (a class of its own: the value itself may be callable-looking)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value
