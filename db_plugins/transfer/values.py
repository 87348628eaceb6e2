"""Values to and from files: one text encoding for dumps, one conversion per field kind for loads.

Dumping is driven by the value's Python type (so a schemaless Mongo
collection dumps as well as a typed table); loading is driven by the target
field's kind (a key of :data:`db_plugins.filters.KINDS`), so a CSV string, a
JSON value or a Parquet cell becomes what the target column stores:

=============  ============================================  =======================================
kind           written as                                    read from
=============  ============================================  =======================================
``int``        ``42``                                        an integer, or its text
``float``      ``0.1`` (shortest exact repr), ``nan``        a number, or its text
``decimal``    ``"1.10"`` (text: exact digits)               a number, or its text
``bool``       ``true`` / ``false``                          a boolean, ``true/false/1/0/t/f/yes/no``
``str``        the string                                    the string
``datetime``   ISO 8601, ``2024-05-01T12:30:00``             ISO 8601 text
``date``       ``2024-05-01``                                ISO 8601 text
``time``       ``12:30:00``                                  ISO 8601 text
``bytes``      base64                                        base64 text
``uuid``       ``8-4-4-4-12`` hex                            the same text
``any``        JSON for dicts and lists, text otherwise      JSON values as they are; in CSV and
                                                             Parquet text, ``{...}``/``[...]`` is
                                                             parsed as JSON
=============  ============================================  =======================================

ObjectIds are written as their 24 hex digits and Decimal128 as a decimal.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import json
import uuid
from collections.abc import Callable
from typing import Any

from .. import values as value_rules
from ..filters import FieldInfo

__all__ = ["to_text", "to_json_line", "json_default", "convert", "ConversionError"]

# What a load error says each kind expects.
EXPECTED = {
    "int": "an integer",
    "float": "a number",
    "decimal": "a decimal number",
    "bool": "true or false",
    "str": "a string",
    "datetime": "an ISO 8601 datetime",
    "date": "an ISO 8601 date",
    "time": "an ISO 8601 time",
    "bytes": "base64 bytes",
    "uuid": "a UUID",
    "any": "a value",
}
TRUE = frozenset({"true", "t", "1", "yes", "y"})
FALSE = frozenset({"false", "f", "0", "no", "n"})


class ConversionError(ValueError):
    """A file value that the target field cannot hold (the caller adds the line and column)."""


def json_default(value: Any) -> Any:
    """What ``json.dumps`` writes for the values JSON has no type for (see the module table)."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if type(value).__name__ == "Decimal128":  # bson, without importing it for SQL-only users
        return str(value.to_decimal())
    if type(value).__name__ == "ObjectId":
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot write a {type(value).__name__} value to a file")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=json_default, ensure_ascii=False, separators=(",", ":"))


def to_text(value: Any) -> str:
    """``value`` (not ``None``) as text: CSV cells, and Parquet columns without a native type."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (dict, list, tuple)):
        return _dumps(value)
    result = json_default(value)
    return result if isinstance(result, str) else _dumps(result)


def to_json_line(row: dict[str, Any]) -> str:
    """One JSON Lines record (without its newline)."""
    return _dumps(row)


# -- loading: one converter per kind ------------------------------------------------


def _not_bool(value: Any) -> None:
    if isinstance(value, bool):
        raise ConversionError("got a boolean")


def _int(value: Any, text: bool) -> int:
    _not_bool(value)
    if isinstance(value, int):
        return value
    if isinstance(value, (float, decimal.Decimal)) and value_rules.as_integer(value) is not None:
        return int(value)
    if isinstance(value, str):
        return int(value.strip())
    raise TypeError


def _float(value: Any, text: bool) -> float:
    _not_bool(value)
    if isinstance(value, str):
        value = value.strip()
        try:
            value = int(value)  # an integer is exact, or refused: see db_plugins.values.to_double
        except ValueError:
            return float(value)
    return value_rules.to_double(value)


def _decimal(value: Any, text: bool) -> decimal.Decimal:
    _not_bool(value)
    if isinstance(value, decimal.Decimal):
        return value
    if isinstance(value, (int, float, str)):
        # repr of a float is its shortest exact text: 0.1 stays 0.1, not 0.1000000000000000055...
        result = decimal.Decimal(value.strip() if isinstance(value, str) else repr(value))
        if isinstance(value, str) and not result.is_finite():
            raise ValueError
        return result
    raise TypeError


def _bool(value: Any, text: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in TRUE:
            return True
        if lowered in FALSE:
            return False
        raise ValueError
    raise TypeError


def _str(value: Any, text: bool) -> str:
    if isinstance(value, str):
        return value
    raise TypeError


def _iso(parse: Callable[[str], Any]) -> Callable[[Any, bool], Any]:
    def convert(value: Any, text: bool) -> Any:
        if isinstance(value, str):
            return parse(value.strip())
        raise TypeError

    return convert


def _datetime(value: Any, text: bool) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return _iso(dt.datetime.fromisoformat)(value, text)


def _date(value: Any, text: bool) -> dt.date:
    if isinstance(value, dt.datetime):
        if value.time() != dt.time(0):
            raise ValueError
        return value.date()
    if isinstance(value, dt.date):
        return value
    return _iso(dt.date.fromisoformat)(value, text)


def _time(value: Any, text: bool) -> dt.time:
    if isinstance(value, dt.time):
        return value
    return _iso(dt.time.fromisoformat)(value, text)


def _bytes(value: Any, text: bool) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise ValueError from exc
    raise TypeError


def _uuid(value: Any, text: bool) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        return uuid.UUID(value.strip())
    raise TypeError


def _any(value: Any, text: bool) -> Any:
    # Text formats carry dicts and lists as JSON (see to_text); JSON Lines carries them as they are.
    if text and isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


CONVERTERS: dict[str, Callable[[Any, bool], Any]] = {
    "int": _int,
    "float": _float,
    "decimal": _decimal,
    "bool": _bool,
    "str": _str,
    "datetime": _datetime,
    "date": _date,
    "time": _time,
    "bytes": _bytes,
    "uuid": _uuid,
    "any": _any,
}


def convert(info: FieldInfo, value: Any, *, text: bool) -> Any:
    """``value`` read from a file, converted for the field ``info`` describes.

    ``text`` says the value is a textual encoding (a CSV cell, a Parquet
    string), where an empty value means NULL for every kind but ``str``,
    ``bytes`` and ``any`` (for which it is the empty value). Raises
    :class:`ConversionError` naming what was expected.
    """
    if value is None:
        return None
    kind = info.kind if info.kind in CONVERTERS else "any"
    if text and value == "" and kind not in ("str", "bytes", "any"):
        return None
    try:
        result = CONVERTERS[kind](value, text)
        if kind == "any" and info.check is not None:
            # A plugin's own kind (a Mongo ObjectId): its filter check also converts from text.
            result = info.check(result)
    except (TypeError, ValueError, ArithmeticError) as exc:
        expected = info.description or EXPECTED[kind]
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        why = f": {exc}" if isinstance(exc, value_rules.InexactValue) else ""
        raise ConversionError(f"expected {expected}, got {shown}{why}") from None
    return result
