"""Numbers at the edges mean what MongoDB means on every engine (SPEC §6).

Ints past 2**53 against a float field, floats and Decimals against an integer
field, -0.0, Decimal NaN: the rows found, counted, deleted and created are the
ones MongoDB's exact comparison gives, and a value a field cannot hold exactly
is refused before anything is written.
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from db_plugins import FilterError, UnsupportedOperation, ValidationError

BIG = 2**53  # the last integer before doubles skip one


@pytest.fixture
def samples(env):
    q = env.q("Sample")
    q.delete(all=True)
    yield q
    q.delete(all=True)


def _ids(q, filter_by):
    return sorted(r.id for r in q.find_all(filter_by, paginate=False))


def test_an_int_past_2_53_against_a_float_field(samples):
    q = samples
    q.bulk_insert([{"id": 1, "f": float(BIG)}, {"id": 2, "f": float(BIG + 2)}, {"id": 3, "f": 2.0**63}])
    cases = {
        "$gte": (BIG + 1, [2, 3]),
        "$gt": (BIG + 1, [2, 3]),
        "$lte": (BIG + 1, [1]),
        "$lt": (BIG + 1, [1]),
        "$ne": (BIG + 1, [1, 2, 3]),
        "$eq": (BIG + 1, []),
        "$in": ([BIG + 1, BIG + 2], [2]),
        "$nin": ([BIG + 1, BIG], [2, 3]),
    }
    for op, (operand, expected) in cases.items():
        filter_by = {"f": {op: operand}}
        assert _ids(q, filter_by) == expected, filter_by
        assert q.count(filter_by) == len(expected), filter_by
    assert q.find_one({"f": BIG + 1}) is None
    assert q.count({"f": BIG + 1}) == 0
    assert q.find_one({"f": 2**63 - 1}) is None  # not 2.0**63
    assert q.find_one({"f": BIG}).id == 1  # an int a double equals still matches
    assert q.delete({"f": {"$gte": BIG + 1}}) == 2
    assert _ids(q, None) == [1]


def test_floats_and_decimals_against_an_integer_field(samples):
    q = samples
    q.bulk_insert([{"id": i, "i": v} for i, v in enumerate([1, 2, 3, BIG, BIG + 1, 2**63 - 1, -(2**63)])])
    cases = [
        ({"i": Decimal("1")}, [0]),
        ({"i": 1.0}, [0]),
        ({"i": 1.5}, []),
        ({"i": {"$ne": 1.5}}, [0, 1, 2, 3, 4, 5, 6]),
        ({"i": {"$gt": Decimal("1.5")}}, [1, 2, 3, 4, 5]),
        ({"i": {"$lt": 2.5, "$gte": 0}}, [0, 1]),
        ({"i": {"$lte": float(BIG)}}, [0, 1, 2, 3, 6]),
        ({"i": float(BIG)}, [3]),
        ({"i": {"$gt": float(BIG)}}, [4, 5]),
        ({"i": {"$lt": 1e19}}, [0, 1, 2, 3, 4, 5, 6]),
        ({"i": {"$gt": 1e19}}, []),
        ({"i": {"$gte": -1e19}}, [0, 1, 2, 3, 4, 5, 6]),
        ({"i": {"$lt": -math.inf}}, []),
        ({"i": {"$in": [2.0, 2.5, Decimal("3")]}}, [1, 2]),
        ({"i": {"$nin": [2.0, 2.5]}}, [0, 2, 3, 4, 5, 6]),
        ({"i": {"$gte": 2**63 - 1}}, [5]),
        ({"i": {"$gte": 2.0**63}}, []),
    ]
    for filter_by, expected in cases:
        assert _ids(q, filter_by) == expected, filter_by
        assert q.count(filter_by) == len(expected), filter_by
        found = q.find_one(filter_by)
        assert (found.id if found else None) == (expected[0] if expected else None), filter_by


def test_a_value_a_float_field_cannot_hold_is_refused(samples):
    q = samples
    for write in (
        lambda: q.insert({"id": 1, "f": BIG + 1}),
        lambda: q.bulk_insert([{"id": 1, "f": 1.0}, {"id": 2, "f": BIG + 1}]),
        lambda: q.bulk_insert([{"id": 1, "f": Decimal("0.1")}]),
        lambda: q.get_or_create({"f": BIG + 1}, id=1),
    ):
        with pytest.raises(ValidationError, match="'f'"):
            write()
    assert q.count() == 0
    _row, created = q.get_or_create({"id": 7}, f=Decimal("0.5"))
    assert created
    assert q.find_one({"id": 7}).f == 0.5
    row = q.insert({"id": 2, "f": 2**60})  # a double equals it: stored exactly
    assert q.find_one({"f": 2**60}).id == 2 == row.id
    assert q.update(row, {"f": 3}).f == 3
    with pytest.raises(ValidationError, match="'f'"):
        q.update(row, {"f": BIG + 1})
    with pytest.raises(ValidationError, match="'f'"):
        q.update_many({"id": 2}, {"f": BIG + 1})
    assert q.find_one({"id": 2}).f == 3


def test_get_or_create_with_a_big_int_on_a_float_field_does_not_repeat(samples):
    q = samples
    q.insert({"id": 1, "f": float(BIG)})
    with pytest.raises(ValidationError):
        q.get_or_create({"f": BIG + 1}, id=2)
    row, created = q.get_or_create({"f": BIG}, id=3)
    assert (row.id, created) == (1, False)
    assert q.count() == 1


def test_negative_zero_is_stored_as_zero(samples):
    q = samples
    q.insert({"id": 1, "f": -0.0})
    q.bulk_insert([{"id": 2, "f": -0.0}, {"id": 3, "f": 1.0}])
    q.bulk_insert([{"id": 4, "f": -0.0}], on_conflict="update")
    for row in q.find_all({"f": 0.0}, paginate=False):
        assert math.copysign(1.0, row.f) == 1.0, row.id
    assert _ids(q, {"f": -0.0}) == [1, 2, 4]
    assert _ids(q, {"f": {"$lt": 0}}) == []


def test_decimal_nan_is_refused_in_filters(samples):
    for filter_by in ({"i": Decimal("NaN")}, {"f": {"$gt": Decimal("NaN")}}, {"i": {"$in": [Decimal("sNaN")]}}):
        with pytest.raises(FilterError, match="NaN"):
            samples.find_one(filter_by)
        with pytest.raises(FilterError, match="NaN"):
            samples.delete(filter_by)


def test_decimal_operands_match_by_value(samples):
    q = samples
    q.bulk_insert([{"id": 1, "f": 0.5, "i": 1}, {"id": 2, "f": 0.1, "i": 2}])
    assert _ids(q, {"f": Decimal("0.5")}) == [1]
    assert _ids(q, {"f": Decimal("0.1")}) == []  # the double 0.1 is not the decimal 0.1
    assert _ids(q, {"f": {"$gt": Decimal("0.1")}}) == [1, 2]  # 0.1 (double) > Decimal("0.1")
    assert _ids(q, {"f": {"$lt": Decimal("0.1")}}) == []
    assert _ids(q, {"i": {"$in": [Decimal("2"), Decimal("2.5")]}}) == [2]


EDGE_FLOATS = [
    0.1,
    -1.5,
    float(BIG),
    float(BIG + 2),
    2.0**63,
    2.0**64,
    1e300,
    -1e300,
    1.7976931348623157e308,
    2.2250738585072014e-308,
    5e-324,
    -5e-324,
    1 / 3,
]
EDGE_INTS = [0, -1, BIG - 1, BIG + 1, 2**62, 2**63 - 1, -(2**63)]


@pytest.mark.parametrize("path", ["insert", "bulk_insert"])
def test_edge_numbers_read_back_exactly(samples, path):
    q = samples
    rows = [{"id": n, "f": f, "i": i} for n, (f, i) in enumerate(zip(EDGE_FLOATS, EDGE_INTS * 2))]
    if path == "insert":
        for row in rows:
            q.insert(row)
    else:
        q.bulk_insert(rows)
    stored = {r.id: (r.f, r.i) for r in q.find_all(paginate=False)}
    assert stored == {row["id"]: (row["f"], row["i"]) for row in rows}
    for row in rows:
        assert [r.id for r in q.find_all({"f": row["f"]}, paginate=False)] == [row["id"]], row


@pytest.fixture
def prices(env):
    q = env.q("Price")
    q.delete(all=True)
    if not env.is_sql and not env.db.features.decimal128:
        with pytest.raises(UnsupportedOperation, match="Decimal"):
            q.insert({"id": 1, "amount": Decimal("1.5")})
        with pytest.raises(FilterError, match="Decimal"):
            q.find_one({"amount": Decimal("1.5")})
        pytest.skip(f"{env.engine} has no usable Decimal128 (features.decimal128 is False): refused, as asserted")
    yield q
    q.delete(all=True)


def test_decimals_are_stored_and_compared_exactly(prices):
    q = prices
    amounts = [Decimal("0.1"), Decimal("0.3"), Decimal("-2.5"), Decimal("12345678901.1234"), Decimal("7")]
    q.bulk_insert([{"id": n, "amount": a} for n, a in enumerate(amounts)])
    q.insert({"id": 10, "amount": 3})  # an int is a decimal too
    stored = {r.id: r.amount for r in q.find_all(paginate=False)}
    assert stored == {**dict(enumerate(amounts)), 10: Decimal(3)}
    assert all(isinstance(v, Decimal) for v in stored.values())
    assert sorted(r.id for r in q.find_all({"amount": Decimal("0.1")}, paginate=False)) == [0]
    assert sorted(r.id for r in q.find_all({"amount": {"$gt": Decimal("0.1")}}, paginate=False)) == [1, 3, 4, 10]
    assert sorted(r.id for r in q.find_all({"amount": {"$lte": 3}}, paginate=False)) == [0, 1, 2, 10]
    assert [r.id for r in q.find_all(order_by="-amount", paginate=False)] == [3, 4, 10, 1, 0, 2]


def test_a_decimal_a_column_would_round_is_refused(env, prices):
    q = prices
    bad = [Decimal("NaN"), Decimal("Infinity"), Decimal("1." + "1" * 40)]
    if env.is_sql:  # NUMERIC(20, 4): at most 4 digits after the point and 16 before it
        bad += [Decimal("1.00001"), Decimal("1" * 17)]
    if env.engine == "sqlite":  # features.decimal_digits: a double keeps 15 significant digits
        assert env.db.features.decimal_digits == 15
        bad += [Decimal("1234567890123.456")]
    for value in bad:
        with pytest.raises(ValidationError, match="'amount'"):
            q.insert({"id": 1, "amount": value})
        with pytest.raises(ValidationError, match="'amount'"):
            q.bulk_insert([{"id": 2, "amount": value}])
    assert q.count() == 0
    q.insert({"id": 3, "amount": Decimal("1.5000")})  # trailing zeros are not digits lost
    assert q.find_one({"id": 3}).amount == Decimal("1.5")


def test_an_integer_beyond_its_column_is_refused_naming_the_field(env):
    """``features.integer_widths``: PostgreSQL and MariaDB hold 32 bits in an ``Integer``
    column; SQLite and MongoDB hold 64 bits in any integer field."""
    q = env.q("Item")
    narrow = env.is_sql and env.db.features.integer_widths
    for write in (
        lambda: q.insert({"oid": "a", "n": 2**31}),
        lambda: q.bulk_insert([{"oid": "b", "n": 1}, {"oid": "c", "n": -(2**31) - 1}]),
    ):
        if narrow:
            with pytest.raises(ValidationError, match=r"'n'.*outside the column's range"):
                write()
        else:
            write()
    assert q.count() == (0 if narrow else 3)
    q.insert({"oid": "d", "n": 2**31 - 1})
    assert q.find_one({"oid": "d"}).n == 2**31 - 1
