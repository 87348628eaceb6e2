"""Property-based differential tests: random data, filters and orderings give the rows the
oracle (``tests/contract/oracle.py``) gives, on every engine.

The budget is fixed: ``DBP_HYPOTHESIS_EXAMPLES`` examples per test and engine
(default 60), derandomized so CI runs are reproducible.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contract import oracle

EXAMPLES = int(os.environ.get("DBP_HYPOTHESIS_EXAMPLES", "60"))
budget = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Case, accents, pad spaces, astral code points (which UTF-16 order would put
# before U+E000..U+FFFF), combining characters, and strings that collations
# other than code-point order would put elsewhere.
STRINGS = [
    "",
    "a",
    "A",
    "a ",
    "b",
    "B",
    "ab",
    "aB",
    "Ab",
    "é",
    "e\u0301",
    "É",
    "e",
    "z",
    "Z",
    "ä",
    "ß",
    "ss",
    "😀",
    "\U00010000",
    "\ue000",
    "\ufffd",
    "\ufb01",
    "fi",
    "İ",
    "i",
    "_",
    "%",
]
BIG = 2**53  # past it, doubles skip integers
INT64 = (-(2**63), 2**63 - 1)
EDGE_INTS = [0, -1, BIG - 1, BIG, BIG + 1, -BIG - 1, 2**62, *INT64, INT64[1] - 1]
EDGE_FLOATS = [
    -1.5,
    -0.0,
    0.0,
    0.5,
    1.0,
    2.0,
    2.5,
    1e10,
    float(BIG),
    float(BIG + 2),
    2.0**63,
    -(2.0**63),
    2.0**64,
    1e300,
    -1e300,
    1.7976931348623157e308,
    2.2250738585072014e-308,  # the smallest normal double
    5e-324,  # the smallest subnormal
    -5e-324,
]
ints = st.integers(-3, 3) | st.integers(-(2**31), 2**31 - 1) | st.sampled_from(EDGE_INTS) | st.integers(*INT64)
floats = st.sampled_from(EDGE_FLOATS) | st.floats(allow_nan=False, allow_infinity=False)
decimals = st.sampled_from(
    [Decimal("0.1"), Decimal("0.5"), Decimal("-0"), Decimal(BIG + 1), Decimal("2.5"), Decimal("1E+19")]
) | st.decimals(min_value=-(10**20), max_value=10**20, allow_nan=False, allow_infinity=False, places=2)
strings = st.sampled_from(STRINGS) | st.text(alphabet="aAbBéÉ zZ😀\u0301\ufffd", max_size=4)
# An int, a float and a Decimal compare by exact value, on either kind of field (as in MongoDB).
numbers = ints | floats | decimals
# A float field holds doubles: ints a double equals are stored (as that double) too.
exact_doubles = st.integers(-BIG, BIG) | st.sampled_from([2**60, -(2**62), 2**63])


# Datetimes: instants (naive UTC) shown naive or in a time zone -- fixed offsets and
# zones with DST, where one local time is two instants (Berlin 2021-10-31 02:30) --
# with microseconds, and years 1 and 9999.
ZONES = [
    None,
    dt.UTC,
    dt.timezone(dt.timedelta(hours=2)),
    dt.timezone(dt.timedelta(hours=-5)),
    ZoneInfo("Europe/Berlin"),
    ZoneInfo("America/Santiago"),
]
INSTANTS = [
    dt.datetime(1, 1, 1),
    dt.datetime(1, 1, 1, 0, 0, 0, 1),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
    dt.datetime(2021, 10, 31, 0, 30),  # Berlin 02:30 (+02:00) ...
    dt.datetime(2021, 10, 31, 1, 30),  # ... and 02:30 again (+01:00)
    dt.datetime(2022, 4, 3, 2, 30),  # Santiago 23:30 (-03:00) ...
    dt.datetime(2022, 4, 3, 3, 30),  # ... and 23:30 again (-04:00)
    dt.datetime(2024, 6, 1, 10, 0),
    dt.datetime(2024, 6, 1, 10, 0, 0, 123456),
    dt.datetime(2024, 6, 1, 10, 0, 0, 123999),
    dt.datetime(2024, 6, 1, 10, 0, 0, 124000),
    dt.datetime(2024, 6, 1, 10, 0, 1),
]


def _shown_in(instant: dt.datetime, zone: dt.tzinfo | None) -> dt.datetime:
    """``instant`` (naive UTC) as a naive value, or as an aware one in ``zone`` where that is a datetime."""
    if zone is None:
        return instant
    try:
        return instant.replace(tzinfo=dt.UTC).astimezone(zone)
    except OverflowError:  # year 1 west of UTC, year 9999 east of it
        return instant


instants = st.sampled_from(INSTANTS) | st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59))
datetimes = st.builds(_shown_in, instants, st.sampled_from(ZONES))


def _order_key(value):
    """Datetimes in a range pair compare as instants (aware and naive ones do not compare in Python)."""
    return value.replace(tzinfo=None) - value.utcoffset() if isinstance(value, dt.datetime) and value.tzinfo else value


VALUES = {"i": numbers, "f": numbers, "s": strings, "b": st.booleans(), "t": datetimes}
STORED = {
    "i": ints | st.integers(-(2**40), 2**40).map(float),
    "f": floats | exact_doubles,
    "s": strings,
    "b": st.booleans(),
    "t": datetimes,
}
FIELDS = tuple(VALUES)


def _stored(field):
    # None is NULL on SQL; MISSING is a field left out of the Mongo document.
    return st.one_of(st.none(), st.just(oracle.MISSING), STORED[field])


@st.composite
def datasets(draw):
    size = draw(st.integers(0, 25))
    rows = []
    for key in range(size):
        row = {"id": key}
        for field in FIELDS:
            row[field] = draw(_stored(field))
        rows.append(row)
    return rows


def _leaf(field):
    value = VALUES[field]
    maybe_none = st.none() | value
    return st.one_of(
        maybe_none,
        maybe_none.map(lambda v: {"$eq": v}),
        maybe_none.map(lambda v: {"$ne": v}),
        st.tuples(st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), value).map(lambda t: {t[0]: t[1]}),
        st.tuples(st.sampled_from(["$in", "$nin"]), st.lists(maybe_none, max_size=4)).map(lambda t: {t[0]: t[1]}),
        st.booleans().map(lambda v: {"$exists": v}),
        st.tuples(value, value).map(lambda t: {"$gte": min(t, key=_order_key), "$lte": max(t, key=_order_key)})
        if field != "b"
        else value,
    ).map(lambda condition: {field: condition})


def _merge(parts):
    merged = {}
    for part in parts:
        for key, value in part.items():
            merged.setdefault(key, value)
    return merged


leaves = st.sampled_from(FIELDS).flatmap(_leaf)
filters = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda parts: {"$and": parts}),
        st.lists(children, min_size=1, max_size=3).map(lambda parts: {"$or": parts}),
        st.lists(children, min_size=2, max_size=3).map(_merge),
    ),
    max_leaves=6,
)


orderings = st.lists(st.tuples(st.sampled_from(FIELDS), st.booleans()), max_size=3, unique_by=lambda t: t[0])


def _order_by(ordering):
    return [("-" if desc else "") + field for field, desc in ordering]


def _load(env, rows):
    q = env.q("Sample")
    q.delete(all=True)
    docs = []
    for row in rows:
        doc = {k: v for k, v in row.items() if v is not oracle.MISSING}
        if env.is_sql:
            doc = {k: row[k] if row[k] is not oracle.MISSING else None for k in row}
        docs.append(doc)
    q.bulk_insert(docs)
    return q


@pytest.fixture
def sample(env):
    yield env
    env.q("Sample").delete(all=True)


def _digits(env):
    """Fractional-second digits the engine keeps of ``Sample.t`` (its ``features`` flag)."""
    features = env.db.features
    if not env.is_sql:
        return features.datetime_precision
    column = env.model("Sample").__table__.c.t
    return env.db.ops.datetime_digits(column.type.dialect_impl(env.db.engine.dialect))


@budget
@given(rows=datasets(), queries=st.lists(st.tuples(st.none() | filters, orderings), min_size=1, max_size=4))
def test_same_rows_as_the_oracle(sample, rows, queries):
    q = _load(sample, rows)
    for filter_by, ordering in queries:
        expected = [r["id"] for r in oracle.select(rows, filter_by, [*ordering, ("id", False)], _digits(sample))]
        got = [r.id for r in q.find_all(filter_by, order_by=_order_by(ordering), paginate=False)]
        assert got == expected, (filter_by, ordering)
        assert q.count(filter_by) == len(expected)


@budget
@given(rows=datasets(), filter_by=st.none() | filters, ordering=orderings, per_page=st.integers(1, 7))
def test_offset_and_keyset_pages_agree(sample, rows, filter_by, ordering, per_page):
    q = _load(sample, rows)
    expected = [r["id"] for r in oracle.select(rows, filter_by, [*ordering, ("id", False)], _digits(sample))]
    order_by = _order_by(ordering)
    by_offset, by_keyset, page, cursor = [], [], 1, None
    while True:
        offset_page = q.paginate(page=page, per_page=per_page, filter_by=filter_by, order_by=order_by)
        keyset_page = q.paginate(per_page=per_page, filter_by=filter_by, order_by=order_by, after=cursor, count=False)
        by_offset += [r.id for r in offset_page]
        by_keyset += [r.id for r in keyset_page]
        assert offset_page.has_next == keyset_page.has_next
        if not keyset_page.has_next:
            break
        page, cursor = page + 1, keyset_page.next_cursor
    assert by_offset == expected
    assert by_keyset == expected
    assert offset_page.total == len(expected)


@budget
@given(rows=datasets(), filter_by=filters)
def test_find_one_count_and_delete_agree_with_the_oracle(sample, rows, filter_by):
    q = _load(sample, rows)
    expected = [r["id"] for r in oracle.select(rows, filter_by, [("id", False)])]
    found = q.find_one(filter_by)
    assert (found.id if found else None) == (expected[0] if expected else None), filter_by
    assert q.check_exists(filter_by) == bool(expected), filter_by
    assert q.delete(filter_by) == len(expected), filter_by
    assert sorted(r.id for r in q.find_all(paginate=False)) == sorted(set(r["id"] for r in rows) - set(expected))
