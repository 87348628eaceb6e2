"""The portable filter language, parsed once into a small tree every plugin compiles.

``filter_by`` dicts use MongoDB's syntax restricted to field equality and the
operators ``$eq $ne $gt $gte $lt $lte $in $nin $exists $and $or``. Parsing
checks every field against the model's schema and every value against the
field's kind, so a bad filter raises :class:`~db_plugins.errors.FilterError`
before any I/O, and nothing but these operators can ever reach a server.

Semantics (the same on every engine; the plugins' compilers make it so):

* ``{"f": None}`` matches a null or missing value; ``$ne``/``$nin`` also
  match null and missing values;
* ``{"$exists": True}`` matches a present, non-null value, ``False`` a null or
  missing one;
* range operators never match null; they refuse ``None`` as an operand;
* strings compare case-sensitively in code-point order; ints and floats compare by value;
* an aware datetime operand means its instant: it is compared in UTC, as stored
  (:mod:`db_plugins.values`).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import math
import reprlib
import uuid
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import values
from .errors import FilterError
from .values import INT64_MAX, INT64_MIN, check_datetime

__all__ = [
    "Compare",
    "And",
    "Or",
    "Node",
    "MATCH_ALL",
    "FieldInfo",
    "Schema",
    "parse_filter",
    "compares",
    "refused_float",
    "parse_order",
    "after_condition",
    "check_value",
    "KINDS",
    "check_integer",
    "refused",
    "exact_compare",
    "exact",
]

COMPARISONS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "exists")
RANGE_OPS = ("gt", "gte", "lt", "lte")
MAX_DEPTH = 32
MAX_LIST = 100_000


@dataclass(frozen=True)
class Compare:
    """``field <op> value``; ``op`` is one of :data:`COMPARISONS` (without the ``$``)."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class And:
    """Every clause matches; ``And(())`` matches every row."""

    clauses: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """At least one clause matches."""

    clauses: tuple[Node, ...]


Node = Compare | And | Or
MATCH_ALL = And(())


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, decimal.Decimal)) and not isinstance(v, bool)


def _check_number(v: Any) -> Any:
    if not _is_number(v):
        raise TypeError
    if isinstance(v, decimal.Decimal) and v.is_nan():
        raise ValueError("NaN")  # a Decimal NaN compares with nothing, not even itself
    # Every engine stores integers in 64 bits; a larger one fails in each driver differently.
    if isinstance(v, int) and not INT64_MIN <= v <= INT64_MAX:
        raise ValueError("an integer outside the 64-bit range")
    return v


def check_integer(v: Any) -> int:
    """``v`` as a value for an integer field: an int in 64 bits, or a float/Decimal holding a whole number.

    3.0 (what CSV readers and pandas give for integer columns) becomes 3; 1.5
    is refused rather than left to the engine, which would round it
    (PostgreSQL, MariaDB), keep it as a REAL in an INTEGER column (SQLite) or
    store a double (MongoDB). Raises ``TypeError``/``ValueError``.
    """
    if isinstance(v, bool):
        raise TypeError
    if isinstance(v, (float, decimal.Decimal)):
        if not math.isfinite(v) or v != int(v):
            raise ValueError("not a whole number")
        v = int(v)
    elif not isinstance(v, int):
        raise TypeError
    if not INT64_MIN <= v <= INT64_MAX:
        raise ValueError("an integer outside the 64-bit range")
    return int(v)


def refused(value: Any, exc: Exception) -> str:
    """What a refusing check got, for "expects X, got ...": the type, and why when a ``ValueError`` says."""
    got = type(value).__name__
    return f"{got} ({exc.args[0]})" if isinstance(exc, ValueError) and exc.args else got


def _check_str(v: Any) -> Any:
    if not isinstance(v, str):
        raise TypeError
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, e.g. from JSON's "\ud800"
        raise ValueError("a string that is not valid Unicode (a lone surrogate)") from None
    # A subclass (an enum member, bson.Code) as the plain string: drivers may encode it as another type.
    return v if type(v) is str else str.__str__(v)


def _check_uuid(v: Any) -> Any:
    if isinstance(v, uuid.UUID):
        return v
    if isinstance(v, str):
        return uuid.UUID(v)
    raise TypeError


def _checker(pred: Callable[[Any], bool]) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if not pred(v):
            raise TypeError
        return v

    return check


# kind -> (description, check(value) -> value to use, raising TypeError/ValueError)
KINDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "int": ("a number", _check_number),
    "float": ("a number", _check_number),
    "decimal": ("a number", _checker(_is_number)),
    "str": ("a string", _check_str),
    "bool": ("a boolean", _checker(lambda v: isinstance(v, bool))),
    # Aware operands are converted to naive UTC, as stored (db_plugins.values).
    "datetime": ("a datetime", check_datetime),
    "date": ("a date", _checker(lambda v: isinstance(v, _dt.date) and not isinstance(v, _dt.datetime))),
    "time": ("a time", _checker(lambda v: isinstance(v, _dt.time))),
    "bytes": ("bytes", _checker(lambda v: isinstance(v, (bytes, bytearray, memoryview)))),
    "uuid": ("a UUID", _check_uuid),
    "any": (
        "a scalar",
        _checker(
            lambda v: (
                isinstance(v, (bool, int, float, str, decimal.Decimal, _dt.date, _dt.time, bytes, uuid.UUID))
                or type(v).__name__ == "ObjectId"
            )
        ),
    ),
}


@dataclass(frozen=True)
class FieldInfo:
    """What a filter may compare a field with: its ``kind`` (a key of :data:`KINDS`)
    or a plugin's own ``check`` callable for kinds shared code does not know."""

    name: str
    kind: str = "any"
    nullable: bool = True
    check: Callable[[Any], Any] | None = None
    description: str | None = None


Schema = Mapping[str, FieldInfo]


def check_value(info: FieldInfo, value: Any, where: str) -> Any:
    """Return ``value`` checked (and possibly converted) for ``info``'s kind."""
    if value is None:
        return None
    if isinstance(value, (Mapping, list, tuple, set)):
        raise FilterError(
            f"filter_by{where}: expected {_kind_name(info)} for field {info.name!r}, got {type(value).__name__}"
        )
    check = info.check or KINDS.get(info.kind, KINDS["any"])[1]
    try:
        return check(value)
    except (TypeError, ValueError) as exc:
        reason = f" ({exc})" if isinstance(exc, ValueError) and str(exc) and info.check is None else ""
        raise FilterError(
            f"filter_by{where}: expected {_kind_name(info)} for field {info.name!r}, "
            f"got {type(value).__name__} {_short(value)}{reason}"
        ) from None


def _kind_name(info: FieldInfo) -> str:
    return info.description or KINDS.get(info.kind, KINDS["any"])[0]


def _short(value: Any) -> str:
    try:  # bounded: a hostile value may nest thousands of levels deep, or fail to repr at all
        text = _REPR.repr(value)
    except Exception:
        return type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 40, 40


def parse_filter(filter_by: Mapping[str, Any] | None, schema: Schema, model: str = "model") -> Node:
    """Parse a ``filter_by`` dict against ``schema``; raise :class:`FilterError` on anything else."""
    if filter_by is None:
        return MATCH_ALL
    return _parse_doc(filter_by, schema, model, "", 0)


def _parse_doc(doc: Any, schema: Schema, model: str, where: str, depth: int) -> Node:
    if depth > MAX_DEPTH:
        raise FilterError(f"filter_by{where}: nested deeper than {MAX_DEPTH} levels")
    if not isinstance(doc, Mapping):
        raise FilterError(f"filter_by{where}: expected a dict, got {type(doc).__name__}")
    clauses: list[Node] = []
    for key, value in doc.items():
        if not isinstance(key, str):
            raise FilterError(f"filter_by{where}: keys must be strings, got {_short(key)}")
        here = f"{where}[{key!r}]"
        if key in ("$and", "$or"):
            if not isinstance(value, (list, tuple)) or not value:
                raise FilterError(f"filter_by{here}: expected a non-empty list of filter dicts")
            parts = tuple(_parse_doc(item, schema, model, f"{here}[{i}]", depth + 1) for i, item in enumerate(value))
            clauses.append(And(parts) if key == "$and" else Or(parts))
        elif key.startswith("$"):
            raise FilterError(f"filter_by{here}: unknown operator {key!r} (allowed: $and, $or)")
        else:
            info = schema.get(key)
            if info is None:
                raise FilterError(f"filter_by{here}: unknown field {key!r} for {model}")
            clauses.extend(_parse_field(info, value, here))
    return clauses[0] if len(clauses) == 1 else And(tuple(clauses))


def _parse_field(info: FieldInfo, value: Any, where: str) -> list[Node]:
    if not isinstance(value, Mapping):
        return [Compare(info.name, "eq", check_value(info, value, where))]
    if not value:
        raise FilterError(f"filter_by{where}: empty operator dict")
    out: list[Node] = []
    for op_key, operand in value.items():
        here = f"{where}[{op_key!r}]"
        op = op_key[1:] if isinstance(op_key, str) and op_key.startswith("$") else None
        if op not in COMPARISONS:
            if isinstance(op_key, str) and not op_key.startswith("$"):
                raise FilterError(f"filter_by{where}: expected a value or an operator dict, got key {op_key!r}")
            raise FilterError(
                f"filter_by{here}: unknown operator {_short(op_key)} (allowed: "
                + ", ".join("$" + c for c in COMPARISONS)
                + ")"
            )
        if op in ("in", "nin"):
            if not isinstance(operand, (list, tuple, set, frozenset)):
                raise FilterError(f"filter_by{here}: expected a list, got {type(operand).__name__}")
            if len(operand) > MAX_LIST:
                raise FilterError(f"filter_by{here}: more than {MAX_LIST} values")
            values = tuple(check_value(info, item, f"{here}[{i}]") for i, item in enumerate(operand))
            out.append(Compare(info.name, op, values))
        elif op == "exists":
            if not isinstance(operand, bool):
                raise FilterError(f"filter_by{here}: expected true or false, got {type(operand).__name__}")
            out.append(Compare(info.name, op, operand))
        else:
            if op in RANGE_OPS and operand is None:
                raise FilterError(f"filter_by{here}: expected a non-null value")
            out.append(Compare(info.name, op, check_value(info, operand, here)))
    return out


def compares(node: Node) -> Iterator[Compare]:
    """Every comparison of a filter tree."""
    if isinstance(node, Compare):
        yield node
    else:
        for child in node.clauses:
            yield from compares(child)


def refused_float(node: Compare, refused: Container[str]) -> str | None:
    """``"nan"`` or ``"inf"`` when ``node`` compares with such a float and ``refused`` names it, else ``None``.

    (Engines that cannot store these values cannot compare with them either:
    their drivers refuse them, or send NULL in their place.)
    """
    values = node.value if isinstance(node.value, tuple) else (node.value,)
    for value in values:
        if isinstance(value, float):
            if "nan" in refused and math.isnan(value):
                return "nan"
            if "inf" in refused and math.isinf(value):
                return "inf"
    return None


def parse_order(
    order_by: str | Sequence[str] | None, schema: Schema, primary_key: Sequence[str], model: str = "model"
) -> tuple[tuple[str, bool], ...]:
    """Parse ``order_by`` into ``((field, descending), ...)``, ending with the primary key.

    ``"field"``, ``"-field"`` or a list of them. The primary key columns not
    already named are appended (ascending) so that every ordering is total.
    """
    if order_by is None:
        items: Sequence[Any] = ()
    elif isinstance(order_by, str):
        items = (order_by,)
    elif isinstance(order_by, (list, tuple)):
        items = order_by
    else:
        raise FilterError(f"order_by: expected a field name or a list of them, got {type(order_by).__name__}")
    out: list[tuple[str, bool]] = []
    seen: set[str] = set()
    for item in items:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bool):
            name, descending = item
        elif isinstance(item, str):
            descending = item.startswith("-")
            name = item[1:] if descending or item.startswith("+") else item
        else:
            raise FilterError(f"order_by: expected a field name, got {_short(item)}")
        if name not in schema:
            raise FilterError(f"order_by: unknown field {name!r} for {model}")
        if name in seen:
            raise FilterError(f"order_by: field {name!r} named twice")
        seen.add(name)
        out.append((name, descending))
    for name in primary_key:
        if name not in seen:
            out.append((name, False))
    return tuple(out)


def after_condition(order: Sequence[tuple[str, bool]], values: Sequence[Any]) -> Node:
    """The rows strictly after ``values`` in ``order`` (nulls lowest), as a filter tree.

    Expanded lexicographic comparison: for each position ``i``, the previous
    fields are equal and field ``i`` is past its value. A leading bound on the
    first field, redundant but index-friendly, lets engines use a range scan.
    """
    alternatives: list[Node] = []
    prefix: list[Node] = []
    for (name, descending), value in zip(order, values):
        past = _past(name, descending, value)
        if past is not None:
            alternatives.append(And((*tuple(prefix), past)) if prefix else past)
        prefix.append(Compare(name, "eq", value))
    if not alternatives:
        return Or(())
    condition: Node = alternatives[0] if len(alternatives) == 1 else Or(tuple(alternatives))
    first_name, first_desc = order[0]
    first_value = values[0]
    if len(alternatives) > 1 and first_value is not None:
        bound = Compare(first_name, "lte" if first_desc else "gte", first_value)
        if first_desc:
            bound = Or((bound, Compare(first_name, "eq", None)))
        condition = And((bound, condition))
    return condition


def _past(name: str, descending: bool, value: Any) -> Node | None:
    """Values strictly after ``value``: ascending puts nulls first, descending last."""
    if not descending:
        if value is None:
            return Compare(name, "exists", True)
        return Compare(name, "gt", value)
    if value is None:
        return None
    return Or((Compare(name, "lt", value), Compare(name, "eq", None)))


NOTHING: Node = Or(())


def exact(node: Node, schema: Schema) -> Node:
    """``node`` with every comparison made exact for its field (see :func:`exact_compare`).

    Returns ``node`` itself when nothing changes, which is the common case.
    """
    if isinstance(node, Compare):
        info = schema.get(node.field)
        return exact_compare(node, info.kind) if info is not None else node
    clauses = tuple(exact(child, schema) for child in node.clauses)
    if all(a is b for a, b in zip(clauses, node.clauses)):
        return node
    return type(node)(clauses)


def exact_compare(node: Compare, kind: str) -> Node:
    """``node`` with an operand the field holds, selecting the rows MongoDB's exact comparison selects.

    A field of kind ``"float"`` holds doubles and one of kind ``"int"`` 64-bit
    integers; engines compare an operand of another type after converting one
    side, which rounds: ``{"f": {"$gte": 2**53 + 1}}`` would match 2**53 on
    PostgreSQL, MariaDB and SQLite. Here it becomes ``$gte 2**53 + 2`` (the
    next double), ``{"i": {"$lt": 2.5}}`` becomes ``$lte 2``, an equality with
    a value the field cannot hold matches nothing (and ``$ne`` every row), and
    ``$in``/``$nin`` drop such values. Returns ``node`` itself when its operand
    is already of the field's type.
    """
    if kind == "float":
        held, as_held, side = _is_double, values.as_double, _double_side
    elif kind == "int":
        held, as_held, side = _is_integer, values.as_integer, _integer_side
    else:
        return node
    if node.op in ("in", "nin"):
        return node if all(map(held, node.value)) else _held(node, as_held, side)
    return node if held(node.value) else _held(node, as_held, side)


def _is_double(value: Any) -> bool:
    """A value every engine compares with a double exactly."""
    kind = type(value)
    return (
        kind is float or value is None or (kind is int and -values.EXACT_DOUBLE_INT <= value <= values.EXACT_DOUBLE_INT)
    )


def _is_integer(value: Any) -> bool:
    return type(value) is int or value is None


def _held(node: Compare, held: Callable[[Any], Any], side: Callable[[str, str, Any], Node]) -> Node:
    op, value = node.op, node.value
    if op in ("in", "nin"):
        kept = tuple(v for v in (held(v) if _is_number(v) else v for v in value) if v is not None)
        return Compare(node.field, op, kept + (None,) * (None in value))
    if op not in ("eq", "ne", *RANGE_OPS) or not _is_number(value) or values.is_nan(value):
        return node
    converted = held(value)
    if converted is not None:
        return Compare(node.field, op, converted)
    if op == "eq":
        return NOTHING
    if op == "ne":
        return MATCH_ALL
    return side(node.field, op, value)


def _double_side(field: str, op: str, value: Any) -> Node:
    below, above = values.double_bounds(value)
    return Compare(field, "gte", above) if op in ("gt", "gte") else Compare(field, "lte", below)


def _integer_side(field: str, op: str, value: Any) -> Node:
    below, above = values.integer_bounds(value)
    bound = above if op in ("gt", "gte") else below
    if INT64_MIN <= bound <= INT64_MAX:
        return Compare(field, "gte" if op in ("gt", "gte") else "lte", int(bound))
    # Every stored integer is on one side of the operand.
    above_all = bound > INT64_MAX
    return NOTHING if above_all == (op in ("gt", "gte")) else Compare(field, "exists", True)
