"""The datetime rules of :mod:`db_plugins.values`, applied by SQLAlchemy's own type machinery.

Every value bound to a ``DateTime`` column on a db-plugins engine -- an
insert, an update, a filter operand, a keyset cursor, ``bulk_insert``'s fast
paths, an ORM flush -- goes through the column type's bind processor, and
every value read through its result processor. :func:`install` makes the
engine's dialect adapt ``DateTime`` (and its subclasses) to a subclass of the
dialect's own datetime type whose processors add, around the dialect's:

* binds: an aware value converted to UTC; a naive one taken as UTC; cut to the
  column's precision (``ops.datetime_digits``); for a
  ``DateTime(timezone=True)`` column sent aware in UTC where the engine stores
  offsets (PostgreSQL: then the session's ``TimeZone`` plays no part), as naive
  UTC elsewhere (SQLite, MariaDB);
* results of a ``DateTime(timezone=True)`` column: aware, in UTC (PostgreSQL
  returns them in the session's time zone; SQLite and MariaDB return the stored
  naive UTC value).

Only the dialect of the engine db-plugins creates is changed: the models, their
DDL and other engines are not.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from ...values import UTC, DatetimeRule

__all__ = ["install", "datetime_rule", "DbpDateTime", "register_psycopg2_timestamptz"]


class DbpDateTime(sa.DateTime):
    """Marks the adapted datetime types (see :func:`install`); never used in a model."""

    def _rule(self, dialect: Any) -> DatetimeRule:
        ops = dialect.dbp_ops
        return DatetimeRule(ops.datetime_digits(self), bool(self.timezone), ops.features.datetime_range)

    def bind_processor(self, dialect: Any) -> Callable[[Any], Any] | None:
        process = super().bind_processor(dialect)
        rule = self._rule(dialect)
        if not rule.aware:
            cut = rule.digits < 6

            def naive(value: Any) -> Any:
                # Anything but a datetime (a string in a hand-written clause) is left to the driver, as before.
                if isinstance(value, dt.datetime) and (cut or value.tzinfo is not None):
                    value = rule(value)
                return value if process is None else process(value)

            return naive
        keep_offset = dialect.dbp_ops.features.datetime_timezones

        def aware(value: Any) -> Any:
            if isinstance(value, dt.datetime):
                value = rule(value)
                if not keep_offset:
                    value = value.replace(tzinfo=None)
            return value if process is None else process(value)

        return aware

    def result_processor(self, dialect: Any, coltype: Any) -> Callable[[Any], Any] | None:
        process = super().result_processor(dialect, coltype)
        if not self.timezone:
            return process
        if dialect.dbp_ops.features.datetime_timezones:

            def to_utc(value: Any) -> Any:
                if process is not None:
                    value = process(value)
                return value if value is None or value.tzinfo is UTC else value.astimezone(UTC)

            return to_utc

        def stored_utc(value: Any) -> Any:
            if process is not None:
                value = process(value)
            return value if value is None else value.replace(tzinfo=UTC)

        return stored_utc

    def column_processor(self, dialect: Any) -> Callable[[Sequence[Any]], Sequence[Any]]:
        """The bind processor over a whole column (``bulk_insert``'s fast paths): the
        common column -- naive values for a naive column keeping microseconds --
        passes after one test in C, without a call per value."""
        process = self.bind_processor(dialect)
        assert process is not None
        rule = self._rule(dialect)
        base = super().bind_processor(dialect)

        def column(values: Sequence[Any]) -> Sequence[Any]:
            if not rule.aware:
                values = rule.column(values)
                return values if base is None else list(map(base, values))
            return list(map(process, values))

        return column


_ADAPTED: dict[type, type] = {}


def _adapted(base: type) -> type:
    """``base`` (the dialect's datetime type) with :class:`DbpDateTime`'s processors (one class per base)."""
    if issubclass(base, DbpDateTime):  # a second engine of the same features (the read pool)
        return base
    cls = _ADAPTED.get(base)
    if cls is None:
        cls = _ADAPTED[base] = type(f"Dbp{base.__name__}", (DbpDateTime, base), {"__module__": __name__})
    return cls


def install(engine: sa.engine.Engine, ops: Any) -> None:
    """Make ``engine``'s dialect (and the operations' own, which ``bulk_insert`` compiles with)
    bind and read datetimes by the rules of :mod:`db_plugins.values` (``ops``: the dialect's
    operations, db_plugins.db.sql.dialects)."""
    adapted = _adapted(ops.datetime_base())
    for dialect in (engine.dialect, ops.dialect):
        dialect.dbp_ops = ops
        # An instance attribute: only this engine's dialect adapts differently.
        dialect.colspecs = {**dialect.colspecs, sa.DateTime: adapted}


def datetime_rule(column_type: Any, dialect: sa.engine.Dialect) -> DatetimeRule | None:
    """The rule of a column of ``column_type`` on ``dialect`` (``None``: not an adapted datetime)."""
    impl = column_type.dialect_impl(dialect)
    while isinstance(impl, sa.types.TypeDecorator):
        impl = impl.impl_instance
    return impl._rule(dialect) if isinstance(impl, DbpDateTime) else None


# -- PostgreSQL: timestamptz text in any session time zone ----------------------------

_TIMESTAMPTZ = re.compile(
    r"(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?( BC)?"
)
_CYCLE = dt.timedelta(days=146097)  # 400 Gregorian years: the calendar repeats


def _timestamptz(text: str) -> dt.datetime:
    """PostgreSQL's ISO text of a timestamptz as an aware UTC datetime, also where the
    session's local date falls outside years 1..9999 (year 1 UTC is "0001-12-31 ... BC"
    west of Greenwich), which psycopg2's own parser refuses."""
    match = _TIMESTAMPTZ.fullmatch(text)
    if match is None:
        raise ValueError(f"cannot read the timestamptz {text!r}")
    year, month, day, hour, minute, second = map(int, match.group(1, 2, 3, 4, 5, 6))
    if match.group(12):
        year = 1 - year  # 1 BC is year 0
    shift = 0
    while year < 1:
        year, shift = year + 400, shift - 1
    while year > 9999:
        year, shift = year - 400, shift + 1
    offset = dt.timedelta(
        hours=int(match.group(9)), minutes=int(match.group(10) or 0), seconds=int(match.group(11) or 0)
    )
    micro = int((match.group(7) or "0").ljust(6, "0"))
    local = dt.datetime(year, month, day, hour, minute, second, micro)
    try:
        return (local - (offset if match.group(8) == "+" else -offset) + shift * _CYCLE).replace(tzinfo=UTC)
    except OverflowError:
        raise ValueError(f"the timestamptz {text!r} is outside years 1..9999 in UTC") from None


def register_psycopg2_timestamptz(dbapi_connection: Any) -> None:
    """Read ``timestamptz`` values on this psycopg2 connection by psycopg2's parser, or by
    :func:`_timestamptz` where the session time zone puts the local date out of its range."""
    import psycopg2.extensions as ext

    default = ext.PYDATETIMETZ

    def cast(value: str | None, cursor: Any) -> Any:
        if value is None:
            return None
        try:
            return default(value, cursor)
        except ValueError:
            return _timestamptz(value)

    caster = ext.new_type(default.values, "DBP_TIMESTAMPTZ", cast)
    ext.register_type(caster, dbapi_connection)
    ext.register_type(ext.new_array_type(ext.PYDATETIMETZARRAY.values, "DBP_TIMESTAMPTZ[]", caster), dbapi_connection)
