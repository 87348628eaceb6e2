"""Datetimes mean instants on every engine (db_plugins.values; MongoDB's rules as the oracle).

An aware value is stored as its UTC instant in a naive field, a naive value is
UTC, a ``DateTime(timezone=True)`` column reads back aware in UTC, and a field
keeps the fractional digits its engine's ``features`` flag says -- cut on writes
and on filter operands alike, so a search for a written value finds it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

import db_plugins
from db_plugins import FilterError, ValidationError
from tests.contract import oracle
from tests.servers import SESSION_TZ, session_time_zone_options

UTC = dt.UTC
PLUS2 = dt.timezone(dt.timedelta(hours=2))
MINUS5 = dt.timezone(dt.timedelta(hours=-5))
BERLIN = ZoneInfo("Europe/Berlin")
SANTIAGO = ZoneInfo("America/Santiago")

# Values as a caller writes them: the same instant in several forms, DST edges, digits
# beyond milliseconds, the first and last instants Python has.
WRITTEN = [
    dt.datetime(2024, 6, 1, 12, 0, tzinfo=PLUS2),  # 10:00 UTC
    dt.datetime(2024, 6, 1, 5, 0, tzinfo=MINUS5),  # 10:00 UTC
    dt.datetime(2024, 6, 1, 10, 0, tzinfo=UTC),  # 10:00 UTC
    dt.datetime(2024, 6, 1, 10, 0),  # naive: UTC
    dt.datetime(2021, 10, 31, 2, 30, tzinfo=BERLIN),  # fold 0: +02:00 -> 00:30 UTC
    dt.datetime(2021, 10, 31, 2, 30, fold=1, tzinfo=BERLIN),  # fold 1: +01:00 -> 01:30 UTC
    dt.datetime(2022, 4, 2, 23, 30, fold=1, tzinfo=SANTIAGO),  # -04:00 -> 03:30 UTC
    dt.datetime(2024, 6, 1, 10, 0, 0, 123456),
    dt.datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=PLUS2),
    dt.datetime(2024, 6, 1, 10, 0, 0, 999999),
    dt.datetime(1, 1, 1),
    dt.datetime(1, 1, 1, 1, 0, tzinfo=MINUS5),  # 06:00 UTC, year 1
    dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
    dt.datetime(9999, 12, 31, 18, 0, tzinfo=MINUS5),  # 23:00 UTC, year 9999
]
FIELDS = ("t", "t0")  # t: microseconds where the engine keeps them; t0: a plain DateTime


def digits(env, field: str) -> int:
    """Fractional-second digits ``Moment.<field>`` keeps on this engine (its ``features`` flags,
    per column on SQL: its dialect's ``ops``)."""
    features = env.db.features
    if not env.is_sql:
        return features.datetime_precision
    column = env.model("Moment").__table__.c[field]
    return env.db.ops.datetime_digits(column.type.dialect_impl(env.db.engine.dialect))


def stored(env, field: str, value: dt.datetime) -> dt.datetime:
    return oracle.stored_datetime(value, digits(env, field))


def operands(instant: dt.datetime) -> list[dt.datetime]:
    """``instant`` (naive UTC) as a caller may give it: naive, and aware in several zones."""
    forms = [instant]
    for zone in (UTC, PLUS2, MINUS5, SANTIAGO):
        with contextlib.suppress(OverflowError):  # year 1 west of UTC, year 9999 east of it
            forms.append(instant.replace(tzinfo=UTC).astimezone(zone))
    return forms


@pytest.fixture
def moments(env):
    q = env.q("Moment")
    q.delete(all=True)
    yield q
    q.delete(all=True)


def _load(env, q, how: str) -> list[dict]:
    rows = [{"id": i, "t": v, "t0": v} for i, v in enumerate(WRITTEN)]
    if how == "insert":
        for row in rows:
            q.insert(dict(row))
    else:
        assert q.bulk_insert([dict(r) for r in rows]) == len(rows)
    return rows


def _ids(rows) -> list[int]:
    return [r.id for r in rows]


def test_precision_flags(env):
    features = env.db.features
    if env.is_sql:
        assert digits(env, "t") == 6  # DATETIME(6) on MariaDB
        assert digits(env, "t0") == (0 if features.datetime_precision is None else 6)  # DATETIME(0) on MariaDB
    else:
        assert features.datetime_precision == 3  # BSON: milliseconds
    assert features.datetime_range == (dt.datetime.min, dt.datetime.max)


@pytest.mark.parametrize("how", ["insert", "bulk_insert"])
def test_written_values_read_back_as_utc_instants(env, moments, how):
    rows = _load(env, moments, how)
    got = list(moments.find_all(paginate=False, order_by="id"))
    assert _ids(got) == [r["id"] for r in rows]
    for row, instance in zip(rows, got):
        for field in FIELDS:
            value = getattr(instance, field)
            assert value.tzinfo is None
            assert value == stored(env, field, row[field]), (field, row[field])


def test_insert_returns_what_is_stored(env, moments):
    written = dt.datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=PLUS2)
    instance = moments.insert({"id": 1, "t": written, "t0": written})
    read = moments.find_one({"id": 1})
    for field in FIELDS:
        assert getattr(instance, field) == getattr(read, field) == stored(env, field, written)


@pytest.mark.parametrize("how", ["insert", "bulk_insert"])
@pytest.mark.parametrize("field", FIELDS)
def test_filters_compare_instants(env, moments, how, field):
    rows = _load(env, moments, how)
    n = digits(env, field)
    instants = sorted({stored(env, field, v) for v in WRITTEN})
    for instant in instants:
        for operand in operands(instant):
            for condition in (
                operand,
                {"$gt": operand},
                {"$lt": operand},
                {"$gte": operand, "$lte": operand},
                {"$in": [operand, dt.datetime(2000, 1, 1)]},
                {"$nin": [operand]},
                {"$ne": operand},
            ):
                filter_by = {field: condition}
                expected = [r["id"] for r in oracle.select(rows, filter_by, [("id", False)], n)]
                assert _ids(moments.find_all(filter_by, paginate=False)) == expected, filter_by
                assert moments.count(filter_by) == len(expected), filter_by


@pytest.mark.parametrize("field", FIELDS)
def test_a_search_for_the_written_value_finds_it(env, moments, field):
    # Digits the field does not keep are cut from the operand as from the value written.
    written = dt.datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=PLUS2)
    moments.insert({"id": 1, field: written})
    assert _ids(moments.find_all({field: written}, paginate=False)) == [1]
    assert _ids(moments.find_all({field: written.replace(tzinfo=None) - dt.timedelta(hours=2)}, paginate=False)) == [1]
    assert moments.find_one({field: {"$in": [written]}}).id == 1
    # Around it: a range bound inside the cut-off part behaves as the written value.
    assert moments.count({field: {"$gt": written}}) == 0
    assert moments.count({field: {"$gte": written, "$lte": written}}) == 1
    later = written + dt.timedelta(seconds=1)
    assert moments.count({field: {"$lt": later}}) == 1


@pytest.mark.parametrize("descending", [False, True])
def test_ordering_and_keyset_pages_follow_instants(env, moments, descending):
    rows = _load(env, moments, "bulk_insert")
    for field in FIELDS:
        expected = [
            r["id"] for r in oracle.select(rows, None, [(field, descending), ("id", False)], digits(env, field))
        ]
        order_by = ("-" if descending else "") + field
        assert _ids(moments.find_all(paginate=False, order_by=order_by)) == expected
        got, cursor = [], None
        while True:
            page = moments.paginate(per_page=3, order_by=order_by, after=cursor, count=False)
            got += _ids(page)
            if not page.has_next:
                break
            cursor = page.next_cursor
        assert got == expected


@pytest.mark.parametrize("how", ["insert", "bulk_insert"])
def test_another_connection_reads_and_finds_the_values_written(env, moments, how):
    # The first and last instants are stored as themselves (asyncpg's own codecs would send
    # them as -infinity/infinity, which read back alike but no filter on year 1 finds).
    rows = _load(env, moments, how)
    other = env.reconnect()  # the sync API on every run
    try:
        q = other.query(env.model("Moment"))
        got = list(q.find_all(paginate=False, order_by="id"))
        for field in FIELDS:
            assert [getattr(m, field) for m in got] == [stored(env, field, r[field]) for r in rows], field
            n = digits(env, field)
            for instant in (dt.datetime.min, dt.datetime.max):
                for condition in (instant, {"$gte": instant}, {"$lte": instant}):
                    filter_by = {field: condition}
                    expected = [r["id"] for r in oracle.select(rows, filter_by, [("id", False)], n)]
                    assert _ids(q.find_all(filter_by, paginate=False)) == expected, filter_by
    finally:
        other.close()


def test_updates_and_get_or_create_store_utc(env, moments):
    aware = dt.datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=PLUS2)
    utc = stored(env, "t", aware)
    a = moments.insert({"id": 1})
    b = moments.insert({"id": 2})
    moments.update(a, {"t": aware})
    assert a.t == utc and moments.find_one({"id": 1}).t == utc
    assert moments.update_many({"id": 2}, {"t": aware}) == 1
    assert moments.find_one({"id": 2}).t == utc
    moments.bulk_update([a, b], [{"t0": aware}, {"t0": aware}])
    assert [m.t0 for m in moments.find_all(paginate=False, order_by="id")] == [stored(env, "t0", aware)] * 2
    instance, created = moments.get_or_create({"id": 3, "t": aware})
    assert created and instance.t == utc
    again, created = moments.get_or_create({"id": 3, "t": utc})
    assert not created and again.t == utc
    assert moments.count({"t": aware}) == 3


@pytest.mark.parametrize(
    "value",
    [dt.datetime(1, 1, 1, 1, 0, tzinfo=PLUS2), dt.datetime(9999, 12, 31, 23, 0, tzinfo=MINUS5)],
    ids=["year-0", "year-10000"],
)
def test_an_instant_outside_the_range_is_refused(env, moments, value):
    with pytest.raises(ValidationError, match="'t'"):
        moments.insert({"id": 1, "t": value})
    with pytest.raises(ValidationError, match="'t'"):
        moments.bulk_insert([{"id": 1, "t": dt.datetime(2024, 1, 1)}, {"id": 2, "t": value}])
    assert moments.count() == 0
    with pytest.raises(FilterError, match="'t'"):
        moments.count({"t": {"$gt": value}})


# -- DateTime(timezone=True) columns (SQL) -------------------------------------------------


def _sql_only(env) -> None:
    if not env.is_sql:
        pytest.skip("DateTime(timezone=True) is a SQL column type (Mongo datetimes are naive UTC)")


@pytest.mark.parametrize("how", ["insert", "bulk_insert"])
def test_timezone_column_reads_back_aware_utc(env, moments, how):
    _sql_only(env)
    rows = [{"id": i, "tz": v} for i, v in enumerate(WRITTEN)]
    if how == "insert":
        returned = [moments.insert(dict(r)).tz for r in rows]
    else:
        moments.bulk_insert([dict(r) for r in rows])
        returned = None
    got = [m.tz for m in moments.find_all(paginate=False, order_by="id")]
    # A naive value is taken as UTC; every value comes back aware, in UTC.
    expected = [oracle.stored_datetime(v, 6).replace(tzinfo=UTC) for v in WRITTEN]
    assert got == expected
    assert all(v.tzinfo is UTC for v in got)
    if returned is not None:
        assert returned == expected
    for instant in sorted({oracle.stored_datetime(v, 6) for v in WRITTEN}):
        for operand in operands(instant):
            for condition in (operand, {"$gt": operand}, {"$lte": operand}, {"$in": [operand]}):
                filter_by = {"tz": condition}
                want = [r["id"] for r in oracle.select(rows, filter_by, [("id", False)])]
                assert _ids(moments.find_all(filter_by, paginate=False)) == want, filter_by
    order = [r["id"] for r in oracle.select(rows, None, [("tz", True), ("id", False)])]
    assert _ids(moments.find_all(paginate=False, order_by="-tz")) == order
    got, cursor = [], None  # keyset cursors hold the aware values read back
    while True:
        page = moments.paginate(per_page=4, order_by="-tz", after=cursor, count=False)
        got += _ids(page)
        if not page.has_next:
            break
        cursor = page.next_cursor
    assert got == order


# -- the session's time zone plays no part (PostgreSQL, MariaDB) ---------------------------


def test_a_non_utc_session_time_zone_changes_nothing(env, moments):
    zone = "America/Santiago" if SESSION_TZ in ("", "America/Santiago") else "Asia/Tokyo"
    options = session_time_zone_options(env.engine, zone)
    if not options:
        pytest.skip(f"{env.engine} has no session time zone")
    aware = dt.datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=PLUS2)
    naive = dt.datetime(2024, 6, 1, 10, 0, 0, 123456)  # the same instant
    with db_plugins.connect({**env.config, "ENGINE_OPTIONS": options}) as other:
        q = other.query(env.model("Moment"))
        with other.engine.connect() as connection:
            offset = connection.exec_driver_sql(
                "SELECT CAST(EXTRACT(EPOCH FROM now()) AS BIGINT) - CAST(EXTRACT(EPOCH FROM LOCALTIMESTAMP) AS BIGINT)"
                if env.engine == "postgresql"
                else "SELECT TIMESTAMPDIFF(SECOND, NOW(), UTC_TIMESTAMP())"
            ).scalar()
        assert offset != 0  # the session really is not in UTC
        q.insert({"id": 1, "t": aware, "t0": aware, "tz": aware})
        q.bulk_insert([{"id": 2, "t": naive, "t0": naive, "tz": naive}, {"id": 3, "t": dt.datetime(1, 1, 1)}])
        q.bulk_insert([{"id": 4, "tz": dt.datetime(1, 1, 1)}, {"id": 5, "tz": dt.datetime(9999, 12, 31, 23, 59)}])
        q.update_many({"id": 2}, {"t0": aware})
        seen_there = [(m.id, m.t, m.t0, m.tz) for m in q.find_all(paginate=False, order_by="id")]
        found_there = [_ids(q.find_all({f: aware}, paginate=False)) for f in ("t", "t0", "tz")]
    # The suite's own connection (UTC unless DBP_TEST_SESSION_TZ says) reads and finds the same.
    seen_here = [(m.id, m.t, m.t0, m.tz) for m in moments.find_all(paginate=False, order_by="id")]
    assert seen_there == seen_here
    assert seen_here[0] == (1, naive, stored(env, "t0", naive), naive.replace(tzinfo=UTC))
    assert seen_here[1][1:] == seen_here[0][1:]
    assert seen_here[3][3] == dt.datetime(1, 1, 1, tzinfo=UTC)
    assert seen_here[4][3] == dt.datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    found_here = [_ids(moments.find_all({f: aware}, paginate=False)) for f in ("t", "t0", "tz")]
    assert found_there == found_here == [[1, 2], [1, 2], [1, 2]]


def test_aware_values_keep_bulk_inserts_fast_path(env, moments, monkeypatch):
    # Converted to UTC first, aware values go by COPY (PostgreSQL), multi-row INSERT
    # (MariaDB) or the driver's executemany (SQLite), not SQLAlchemy's slower path.
    _sql_only(env)
    from db_plugins.db.sql import bulk
    from db_plugins.db.sql.dialects.base import SQLOperations

    if type(env.db.ops).fast_insert is SQLOperations.fast_insert:
        pytest.skip(f"{env.engine} has no fast bulk_insert path (the generic dialect's)")

    def refuse(*args, **kwargs):
        raise AssertionError("SQLAlchemy's path was taken")

    monkeypatch.setattr(bulk, "_sqlalchemy_insert", refuse)
    rows = [{"id": i, "t": v, "t0": v, "tz": v} for i, v in enumerate(WRITTEN)]
    assert moments.bulk_insert(rows) == len(rows)
    got = [(m.t, m.tz) for m in moments.find_all(paginate=False, order_by="id")]
    assert got == [(stored(env, "t", v), stored(env, "t", v).replace(tzinfo=UTC)) for v in WRITTEN]


def test_instants_next_to_the_first_and_last_are_stored_as_themselves(env, moments):
    """A microsecond after year 1's first instant and before year 9999's last, written by
    bulk_insert (on asyncpg, a batch without those two goes by its own codecs, in C) and
    read back on this API and the sync one."""
    values = [
        dt.datetime(1, 1, 1, 0, 0, 0, 1000),  # (milliseconds on Mongo)
        dt.datetime(9999, 12, 31, 23, 59, 59, 998000),
        dt.datetime(1, 1, 1, 0, 0, 1, tzinfo=UTC),
        dt.datetime(9999, 12, 31, 23, 59, 58, tzinfo=UTC),
        dt.datetime(2024, 6, 1, 12, 0, 0, 123000, tzinfo=PLUS2),
    ]
    tz = {"tz": None} if env.is_sql else {}
    rows = [{"id": i, "t": v, "t0": v, **tz} for i, v in enumerate(values)]
    if env.is_sql:
        for row in rows:
            row["tz"] = row["t"]
    assert moments.bulk_insert([dict(r) for r in rows]) == len(rows)
    expected = [tuple(stored(env, f, v) for f in FIELDS) for v in values]
    other = env.reconnect()  # the sync API on every run
    try:
        for q in (moments, other.query(env.model("Moment"))):
            got = list(q.find_all(paginate=False, order_by="id"))
            assert [tuple(getattr(m, f) for f in FIELDS) for m in got] == expected
            if env.is_sql:
                assert [m.tz for m in got] == [stored(env, "t", v).replace(tzinfo=UTC) for v in values]
    finally:
        other.close()


def test_keyset_cursor_values_are_instants(env, moments):
    from db_plugins.pagination import Cursor, encode_cursor, order_fingerprint

    rows = _load(env, moments, "bulk_insert")
    order = moments.parse_order("t")
    fingerprint = order_fingerprint(moments.model_name, order)
    ten = dt.datetime(2024, 6, 1, 10, 0)
    n = digits(env, "t")
    expected = [
        r["id"]
        for r in oracle.select(rows, None, [("t", False), ("id", False)], n)
        if (oracle.stored_datetime(r["t"], n), r["id"]) > (ten, 3)
    ]
    assert expected
    for operand in operands(ten):  # the same instant in any form
        cursor = encode_cursor(fingerprint, Cursor((operand, 3), True, 2))
        assert _ids(moments.paginate(per_page=50, order_by="t", after=cursor, count=False)) == expected
    forged = encode_cursor(fingerprint, Cursor((dt.datetime(1, 1, 1, tzinfo=PLUS2), 3), True, 2))
    with pytest.raises(ValueError, match="invalid cursor"):
        moments.paginate(order_by="t", after=forged)
