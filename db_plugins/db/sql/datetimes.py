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

__all__ = ["install", "datetime_rule", "DbpDateTime", "register_asyncpg_datetimes", "register_psycopg2_timestamptz"]


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


# -- PostgreSQL on asyncpg: years 1 and 9999 are instants, not infinities -------------

_PG_EPOCH = dt.datetime(2000, 1, 1)
_PG_EPOCH_UTC = _PG_EPOCH.replace(tzinfo=UTC)
_PG_EPOCH_DAY = dt.date(2000, 1, 1).toordinal()
_MICROSECOND = dt.timedelta(microseconds=1)
# The binary forms of 'infinity' and '-infinity' (int64 microseconds, int32 days): read as
# psycopg2 reads them, the last and first values Python has.
_INFINITIES = frozenset(((1 << 63) - 1, -(1 << 63)))
_DATE_INFINITIES = frozenset(((1 << 31) - 1, -(1 << 31)))


def _timestamp_in(value: dt.date) -> tuple[int]:
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    return ((value - _PG_EPOCH) // _MICROSECOND,)


def _timestamptz_in(value: dt.date) -> tuple[int]:
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:  # local time, as asyncpg's own codec takes it (our columns send aware UTC)
        value = value.astimezone(UTC)
    return ((value - _PG_EPOCH_UTC) // _MICROSECOND,)


# The decoders run once per value read: default arguments save the global lookups.
def _timestamp_out(
    value: tuple[int], _add: Any = _PG_EPOCH.__add__, _delta: Any = dt.timedelta, _inf: Any = _INFINITIES
) -> dt.datetime:
    micro = value[0]
    if micro in _inf:
        return dt.datetime.max if micro > 0 else dt.datetime.min
    return _add(_delta(0, 0, micro))


def _timestamptz_out(
    value: tuple[int], _add: Any = _PG_EPOCH_UTC.__add__, _delta: Any = dt.timedelta, _inf: Any = _INFINITIES
) -> dt.datetime:
    micro = value[0]
    if micro in _inf:
        return (dt.datetime.max if micro > 0 else dt.datetime.min).replace(tzinfo=UTC)
    return _add(_delta(0, 0, micro))


def _date_in(value: dt.date) -> tuple[int]:
    return (value.toordinal() - _PG_EPOCH_DAY,)


def _date_out(value: tuple[int]) -> dt.date:
    days = value[0]
    if days in _DATE_INFINITIES:
        return dt.date.max if days > 0 else dt.date.min
    return dt.date.fromordinal(days + _PG_EPOCH_DAY)


#: (type, encoder, decoder) of the codecs :func:`register_asyncpg_datetimes` sets.
_ASYNCPG_CODECS = (
    ("timestamp", _timestamp_in, _timestamp_out),
    ("timestamptz", _timestamptz_in, _timestamptz_out),
    ("date", _date_in, _date_out),
)


def register_asyncpg_datetimes(dbapi_connection: Any) -> None:
    """Send and read ``timestamp``, ``timestamptz`` and ``date`` values on this asyncpg
    connection (SQLAlchemy's adapted one, in its ``connect`` event) as psycopg2 does.

    asyncpg's own codecs send ``datetime.min``/``datetime.max`` (and ``date.min``/``max``,
    and any aware value at those instants) as ``-infinity``/``infinity``, and read the
    infinities back naive: year 1 and year 9999 would be stored as other values than the
    sync API stores, and a ``timestamptz`` would read back naive. These codecs move the
    same binary microseconds (days) since 2000-01-01 as asyncpg's, with no infinity
    mapping on the way in.
    """

    async def register(connection: Any) -> None:
        for name, encoder, decoder in _ASYNCPG_CODECS:
            await connection.set_type_codec(name, schema="pg_catalog", encoder=encoder, decoder=decoder, format="tuple")

    dbapi_connection.run_async(register)
