"""Mongo models: :class:`BaseModel` (a dict with attribute access), :class:`Field`, indexes.

A model declares its collection and typed fields::

    class Item(BaseModel):
        __tablename__ = "items"
        __table_args__ = [IndexModel([("mag", 1)])]

        oid = Field(str, primary_key=True)   # stored as _id
        mag = Field(float)
        n = Field(int, default=0)

Instances are dicts keyed by field name (``item["oid"]`` and ``item.oid``).
The ``primary_key`` field is stored as ``_id`` and presented under its own
name; a model without one is keyed by the ``_id`` (an ``ObjectId``) the
driver generates, and its instances carry ``_id``.

Field types: ``str``, ``int``, ``float`` (accepts an int, stores a float),
``bool``, ``datetime`` (naive UTC, as pymongo reads it: an aware value is
converted to UTC, and BSON keeps milliseconds: finer parts are cut when the
value is checked, so the instance equals what is stored), ``date``
(BSON has no date type: stored as the datetime at midnight, read back as a
``date``), ``dict``, ``list``, ``bytes``, ``ObjectId``, ``Decimal`` (stored as
``Decimal128``, read back as ``Decimal``) and ``object`` / ``None`` (any BSON
value). ``None`` is accepted by every field that is not ``required``.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import re
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from bson import Decimal128, ObjectId
from pymongo import IndexModel

from ...errors import ConfigError, FieldNotLoaded, ValidationError
from ...filters import KINDS, FieldInfo, check_integer, refused
from ...pagination import register_cursor_type
from ...values import DatetimeRule, to_double, to_finite_number

__all__ = ["BaseModel", "Field", "IndexModel", "collect_models", "to_bson", "check_objectid", "ID"]

ID = "_id"
register_cursor_type(ObjectId, "oid")  # keyset cursors over generated keys
_MISSING: Any = object()
_HEX24 = re.compile(r"[0-9a-fA-F]{24}")


def check_objectid(value: Any) -> ObjectId:
    """An ``ObjectId`` from itself or its 24-hex-digit string (raises ``TypeError``/``ValueError``)."""
    if isinstance(value, ObjectId):
        return value
    if isinstance(value, str) and _HEX24.fullmatch(value):
        return ObjectId(value)
    raise TypeError("not an ObjectId")


#: BSON datetimes are milliseconds since the epoch, in UTC (``MongoFeatures.datetime_precision``):
#: an aware value converted to naive UTC and cut to milliseconds, as pymongo's encoder
#: would, so the instance equals what is stored.
_check_datetime = DatetimeRule(digits=3)


def _check_date(value: Any) -> _dt.date:
    if isinstance(value, _dt.datetime) or not isinstance(value, _dt.date):
        raise TypeError
    return value


def _check_decimal(value: Any) -> Decimal128:
    if isinstance(value, Decimal128):
        value = value.to_decimal()
    if isinstance(value, float) and not isinstance(value, bool):
        # The float's shortest form, as SQL drivers send a float to a DECIMAL column.
        value = decimal.Decimal(repr(value))
    if isinstance(value, decimal.Decimal) or (isinstance(value, int) and not isinstance(value, bool)):
        return Decimal128(to_finite_number(decimal.Decimal(value)))
    raise TypeError


def _expect(pred: Callable[[Any], bool], convert: Callable[[Any], Any] = lambda v: v) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not pred(value):
            raise TypeError
        return convert(value)

    return check


class _Type:
    """How one declared field type is checked, filtered and read back."""

    def __init__(
        self,
        description: str,
        check: Callable[[Any], Any],
        kind: str,
        filter_check: Callable[[Any], Any] | None = None,
        from_bson: Callable[[Any], Any] | None = None,
    ) -> None:
        self.description = description
        self.check = check
        self.kind = kind
        self.filter_check = filter_check
        self.from_bson = from_bson
        #: The value types ``check`` returns unchanged whatever the value: no call needed.
        self.unchanged: frozenset[type] = frozenset()


_ANY = _Type("any BSON value", lambda v: v, "any")
_TYPES: dict[Any, _Type] = {
    str: _Type("a string", KINDS["str"][1], "str"),
    # BSON stores 64-bit integers: a larger int would fail in the encoder, after other rows were sent.
    int: _Type("a 64-bit integer", check_integer, "int"),
    float: _Type("a number", to_double, "float"),
    bool: _Type("a boolean", _expect(lambda v: isinstance(v, bool)), "bool"),
    _dt.datetime: _Type("a datetime", _check_datetime, "datetime"),
    _dt.date: _Type(
        "a date",
        _check_date,
        "date",
        from_bson=lambda v: v.date() if isinstance(v, _dt.datetime) else v,
    ),
    dict: _Type("a dict", _expect(lambda v: isinstance(v, Mapping), dict), "any"),
    list: _Type("a list", _expect(lambda v: isinstance(v, (list, tuple)), list), "any"),
    bytes: _Type("bytes", _expect(lambda v: isinstance(v, (bytes, bytearray, memoryview)), bytes), "bytes"),
    ObjectId: _Type("an ObjectId", check_objectid, "objectid", filter_check=check_objectid),
    decimal.Decimal: _Type(
        "a Decimal",
        _check_decimal,
        "decimal",
        filter_check=lambda v: to_finite_number(v.to_decimal() if isinstance(v, Decimal128) else v),
        from_bson=lambda v: v.to_decimal() if isinstance(v, Decimal128) else v,
    ),
    object: _ANY,
}
_TYPE_NAMES = "str, int, float, bool, datetime, date, dict, list, bytes, ObjectId, Decimal, object"
# (Not float: -0.0 is stored as 0.0.)
for _type, _unchanged in ((str, str), (bool, bool), (ObjectId, ObjectId)):
    _TYPES[_type].unchanged = frozenset({_unchanged})
_TYPES[Decimal128] = _TYPES[decimal.Decimal]
_TYPES[None] = _ANY
_TYPES[Any] = _ANY


# A projected instance's loaded fields, kept in its __dict__ (the dict itself holds the values).
_LOADED = "_dbp_loaded"
_ABSENT = object()


def _check_loaded(instance: Any, name: str) -> None:
    """Raise FieldNotLoaded when ``instance`` was read without field ``name``."""
    loaded = instance.__dict__.get(_LOADED)
    if loaded is not None and name not in loaded and name in type(instance).__fields__:
        raise FieldNotLoaded(
            f"{type(instance).__name__}.{name} was not loaded: the read asked for fields {list(loaded)}"
        )


class Field:
    """A typed field of a :class:`BaseModel`.

    ``type`` is one of the types listed in :mod:`db_plugins.db.mongo.models`
    (``None`` or ``object``: any value). ``required`` fields must be present
    and not ``None`` on insert; ``default`` (a value, or a callable called for
    each new document) fills an absent field on insert. ``primary_key=True``
    stores the field as ``_id`` (at most one per model; implies ``required``
    unless its type is ``ObjectId``, which is generated when absent).
    """

    def __init__(
        self,
        type: Any = None,  # noqa: A002 - the natural name in a model declaration
        *,
        required: bool = False,
        default: Any = _MISSING,
        primary_key: bool = False,
    ) -> None:
        spec = _TYPES.get(type)
        if spec is None:
            raise TypeError(f"Field: unsupported type {type!r} (expected one of: {_TYPE_NAMES}, or None for any value)")
        self.type = type
        self.spec = spec
        self.primary_key = primary_key
        # An ObjectId key is generated when absent, as _id always is.
        self.generated = primary_key and type is ObjectId
        self.required = required or (primary_key and not self.generated)
        self.default = default
        self.name = ""
        self._unchanged = spec.unchanged

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING

    def default_value(self) -> Any:
        return self.default() if callable(self.default) else self.default

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.get(self.name, _ABSENT)
        if value is _ABSENT:
            _check_loaded(instance, self.name)
            return None
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        instance[self.name] = value

    def check(self, value: Any, model: str, what: str) -> Any:
        """``value`` checked and converted for storage; :class:`ValidationError` naming the field."""
        if type(value) in self._unchanged and (type(value) is not str or value.isascii()):
            return value  # (a non-ASCII string is checked for lone surrogates)
        if value is None:
            if self.required:
                raise ValidationError(f"{what}: field {self.name!r} of {model} is required (got None)")
            return None
        try:
            return self.spec.check(value)
        except (TypeError, ValueError, ArithmeticError) as exc:  # OverflowError: float(10**400)
            raise ValidationError(
                f"{what}: field {self.name!r} of {model} expects {self.spec.description}, got {refused(value, exc)}"
            ) from None

    def info(self) -> FieldInfo:
        """What filters may compare this field with."""
        return FieldInfo(
            self.name,
            self.spec.kind if self.spec.kind in KINDS else "any",
            nullable=not self.required,
            check=self.spec.filter_check,
            description=self.spec.description if self.spec.filter_check else None,
        )

    def __repr__(self) -> str:
        name = getattr(self.type, "__name__", repr(self.type))
        flags = [f"{flag}=True" for flag in ("required", "primary_key") if getattr(self, flag)]
        return f"Field({', '.join([name, *flags])})"


class BaseModel(dict):
    """A Mongo document: a dict of field values with attribute access.

    Subclasses declare ``__tablename__`` (the collection), :class:`Field`
    attributes and optionally ``__table_args__`` (a list of pymongo
    ``IndexModel``). The constructor refuses unknown fields; values are type
    checked when written (``insert``, ``update``, ...), not on assignment.
    """

    __tablename__: ClassVar[str | None] = None
    __table_args__: ClassVar[list[IndexModel]] = []
    __fields__: ClassVar[dict[str, Field]] = {}
    __primary_key__: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, Field] = {}
        for base in reversed(cls.__mro__[1:]):
            fields.update(getattr(base, "__fields__", {}))
        for name, value in vars(cls).items():
            if isinstance(value, Field):
                if name.startswith("_"):
                    raise TypeError(
                        f"{cls.__name__}.{name}: field names may not start with '_' "
                        "(to choose the key, declare a field with primary_key=True)"
                    )
                fields[name] = value
        keys = [name for name, f in fields.items() if f.primary_key]
        if len(keys) > 1:
            raise TypeError(f"{cls.__name__}: more than one primary_key field ({', '.join(keys)})")
        cls.__fields__ = fields
        cls.__primary_key__ = keys[0] if keys else None
        args = vars(cls).get("__table_args__", [])
        if not isinstance(args, (list, tuple)) or not all(isinstance(i, IndexModel) for i in args):
            raise TypeError(f"{cls.__name__}.__table_args__: expected a list of pymongo IndexModel")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        data = dict(*args, **kwargs)
        cls = type(self)
        for key in data:
            if key not in cls.__fields__ and key != ID:
                raise ValidationError(f"{cls.__name__}: unknown field {key!r}")
        pk = cls.__primary_key__
        if pk is not None and ID in data:
            value = data.pop(ID)
            data.setdefault(pk, value)
        super().__init__(data)

    def __getattr__(self, name: str) -> Any:
        # Reached for names that are not fields (the generated key), and for a field
        # a projection left out (its descriptor raised FieldNotLoaded: raised again here).
        _check_loaded(self, name)
        if name == ID:
            pk = type(self).__primary_key__
            key = pk if pk is not None else ID
            if key in self:
                return self[key]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in type(self).__fields__:
            self[name] = value
        elif name == ID:
            self[type(self).__primary_key__ or ID] = value
        else:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict.__repr__(self)})"


# -- documents <-> instances -------------------------------------------------------


# Types to_bson returns unchanged, skipped without a call.
_BSON_AS_IS = frozenset({str, int, float, bool, _dt.datetime, type(None), ObjectId})


def to_bson(value: Any) -> Any:
    """``value`` in a form BSON can hold (dates as midnight datetimes, Decimals as Decimal128)."""
    if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        return _dt.datetime(value.year, value.month, value.day)
    if isinstance(value, decimal.Decimal):
        return Decimal128(value)
    return value


def validate(model: type[BaseModel], data: Mapping[str, Any], what: str, *, partial: bool = False) -> dict[str, Any]:
    """``data`` checked against ``model``'s fields, keyed by field name (``_id`` for keyless models).

    A full check (``partial=False``) adds defaults and requires required
    fields; a partial one (updates) checks only the fields given.
    """
    fields = model.__fields__
    pk = model.__primary_key__
    name = model.__name__
    out: dict[str, Any] = {}
    for key, value in data.items():
        field = fields.get(key) if isinstance(key, str) else None
        if field is None:
            if key != ID:
                raise ValidationError(f"{what}: unknown field {key!r} for {name}")
            if pk is not None:
                field, key = fields[pk], pk
            else:
                try:
                    out[ID] = check_objectid(value)
                except (TypeError, ValueError):
                    raise ValidationError(
                        f"{what}: field '_id' of {name} expects an ObjectId, got {type(value).__name__}"
                    ) from None
                continue
        out[key] = field.check(value, name, what)
    if not partial:
        for key, field in fields.items():
            if key in out:
                continue
            if field.has_default:
                out[key] = field.check(field.default_value(), name, what)
            elif field.required:
                raise ValidationError(f"{what}: missing required field {key!r} for {name}")
    return out


def to_document(model: type[BaseModel], values: Mapping[str, Any]) -> dict[str, Any]:
    """Checked field values as the stored document (the primary key renamed to ``_id``)."""
    pk = model.__primary_key__
    return {
        (ID if key == pk else key): value if type(value) in _BSON_AS_IS else to_bson(value)
        for key, value in values.items()
    }


def from_document(
    model: type[BaseModel], document: Mapping[str, Any], loaded: tuple[str, ...] | None = None
) -> BaseModel:
    """A ``model`` instance for a stored document (fields the model does not declare are kept).

    ``loaded``: the document was read with only these fields; reading another field of the
    instance raises :class:`~db_plugins.FieldNotLoaded` (an absent field reads as ``None``
    otherwise, which would pass for a stored null).
    """
    fields = model.__fields__
    pk = model.__primary_key__
    data = {}
    for key, value in document.items():
        if key == ID and pk is not None:
            key = pk
        field = fields.get(key)
        if field is not None and field.spec.from_bson is not None:
            value = field.spec.from_bson(value)
        data[key] = value
    instance = model.__new__(model)
    dict.update(instance, data)
    if loaded is not None:
        instance.__dict__[_LOADED] = loaded
    return instance


def schema(model: type[BaseModel]) -> dict[str, FieldInfo]:
    """The filter schema: every field, plus ``_id`` on models keyed by a generated ObjectId."""
    out = {name: field.info() for name, field in model.__fields__.items()}
    if model.__primary_key__ is None:
        out[ID] = FieldInfo(ID, "any", nullable=False, check=check_objectid, description="an ObjectId")
    return out


def index_models(model: type[BaseModel]) -> list[IndexModel]:
    """The model's ``__table_args__`` indexes, with the primary key field named ``_id``."""
    pk = model.__primary_key__
    out = []
    for index in model.__table_args__:
        spec = dict(index.document)
        keys = spec.pop("key")
        out.append(IndexModel([((ID if k == pk else k), d) for k, d in keys.items()], **spec))
    return out


def unique_keys(model: type[BaseModel]) -> list[frozenset[str]]:
    """The stored field sets a unique index covers (``_id`` first)."""
    out = [frozenset({ID})]
    for index in index_models(model):
        spec = index.document
        if spec.get("unique") and not spec.get("partialFilterExpression"):
            out.append(frozenset(spec["key"]))
    return out


def collect_models(source: Any) -> list[type[BaseModel]]:
    """The models a ``MODELS`` setting names: a module (every model with a ``__tablename__`` in it),
    a model class, or a list of them; ``None`` means every model defined so far."""
    if source is None:
        found: list[type[BaseModel]] = []
        pending = list(BaseModel.__subclasses__())
        while pending:
            cls = pending.pop(0)
            found.append(cls)
            pending.extend(cls.__subclasses__())
        candidates: Iterable[Any] = found
    elif isinstance(source, types.ModuleType):
        candidates = vars(source).values()
    elif isinstance(source, type) and issubclass(source, BaseModel):
        candidates = [source]
    elif isinstance(source, (list, tuple)):
        candidates = source
    else:
        raise ConfigError(f"MODELS: expected a module, a model class or a list of them, got {type(source).__name__}")
    out: list[type[BaseModel]] = []
    for value in candidates:
        if isinstance(value, type) and issubclass(value, BaseModel) and value.__tablename__ and value not in out:
            out.append(value)
    return out
