"""The datetime rules of db_plugins.values, and their SQL plumbing, without a server."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from db_plugins.db.sql import datetimes
from db_plugins.db.sql.dialects import dialect_for
from db_plugins.values import UTC, DatetimeRule, check_datetime, truncate_datetime, utc_naive

PLUS2 = dt.timezone(dt.timedelta(hours=2))


def test_utc_naive_and_truncation():
    assert utc_naive(dt.datetime(2024, 6, 1, 12, 0, tzinfo=PLUS2)) == dt.datetime(2024, 6, 1, 10, 0)
    naive = dt.datetime(2024, 6, 1, 12, 0)
    assert utc_naive(naive) is naive
    with pytest.raises(ValueError, match="outside years 1"):
        utc_naive(dt.datetime(1, 1, 1, tzinfo=PLUS2))
    value = dt.datetime(2024, 6, 1, 12, 0, 0, 123999)
    assert truncate_datetime(value, 3) == dt.datetime(2024, 6, 1, 12, 0, 0, 123000)  # cut, not rounded
    assert truncate_datetime(value, 0) == dt.datetime(2024, 6, 1, 12, 0, 0)
    assert truncate_datetime(value, 6) is value


def test_rule_values_and_columns():
    aware = dt.datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=PLUS2)
    assert DatetimeRule(3)(aware) == dt.datetime(2024, 6, 1, 10, 0, 0, 123000)
    assert DatetimeRule(aware=True)(dt.datetime(2024, 6, 1, 10, 0)) == dt.datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
    with pytest.raises(TypeError):
        check_datetime("2024-06-01")
    narrow = DatetimeRule(bounds=(dt.datetime(1000, 1, 1), dt.datetime(9999, 12, 31)))
    with pytest.raises(ValueError, match="outside the range"):
        narrow(dt.datetime(999, 12, 31))
    with pytest.raises(ValueError, match="outside the range"):
        narrow.column([None, dt.datetime(999, 12, 31)])
    plain = [dt.datetime(2024, 1, 1), None]
    assert DatetimeRule().column(plain) is plain  # nothing to do: the same list
    assert DatetimeRule(0).column(plain) is plain
    assert DatetimeRule(0).column([dt.datetime(2024, 1, 1, 0, 0, 1, 5), None]) == [
        dt.datetime(2024, 1, 1, 0, 0, 1),
        None,
    ]
    assert DatetimeRule().column([aware, None]) == [dt.datetime(2024, 6, 1, 10, 0, 0, 123456), None]


@pytest.mark.parametrize(
    ("dialect", "column_type", "digits"),
    [
        (sqlite.pysqlite.dialect, sa.DateTime(), 6),
        (postgresql.psycopg2.dialect, sa.DateTime(), 6),
        (postgresql.psycopg2.dialect, postgresql.TIMESTAMP(precision=3), 3),
        (mysql.pymysql.dialect, sa.DateTime(), 0),
        (mysql.pymysql.dialect, mysql.DATETIME(fsp=3), 3),
        (mysql.pymysql.dialect, sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), 6),
    ],
)
def test_column_precision_is_read_from_the_type(dialect, column_type, digits):
    _features, ops = dialect_for(dialect())

    class Engine:
        pass

    engine = Engine()
    engine.dialect = dialect()
    datetimes.install(engine, ops)
    rule = datetimes.datetime_rule(column_type, engine.dialect)
    assert rule is not None and rule.digits == digits
    bind = column_type.dialect_impl(engine.dialect).bind_processor(engine.dialect)
    sent = bind(dt.datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=PLUS2))
    expected = truncate_datetime(dt.datetime(2024, 6, 1, 10, 0, 0, 123456), digits)
    assert sent == (expected.isoformat(" ", "microseconds") if isinstance(sent, str) else expected)
    if not isinstance(sent, str):  # a string in a hand-written clause still reaches the driver as it is
        assert bind("2024-06-01 12:00:00") == "2024-06-01 12:00:00"


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2020-01-01 07:00:00.5-03", dt.datetime(2020, 1, 1, 10, 0, 0, 500000)),
        ("0001-12-31 19:17:14-04:42:46 BC", dt.datetime(1, 1, 1)),  # year 1 UTC seen from Santiago (LMT)
        ("10000-01-01 13:59:59.999999+14", dt.datetime(9999, 12, 31, 23, 59, 59, 999999)),
    ],
)
def test_timestamptz_text_in_any_session_time_zone(text, utc):
    assert datetimes._timestamptz(text) == utc.replace(tzinfo=UTC)


def test_timestamptz_text_outside_python_range():
    with pytest.raises(ValueError, match="outside years 1"):
        datetimes._timestamptz("0001-12-31 23:00:00+02 BC")
