"""Every edge operand against every edge value, on every engine: the rows MongoDB's rules give.

The differential tests draw random data; this one is exhaustive over the
values where engines used to disagree (ints past 2**53 against doubles, the
64-bit limits, -0.0, subnormals, Decimals, astral and combining characters),
with each comparison operator, as ``find_all``, ``count`` and ``find_one``.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.contract import oracle
from tests.contract.test_differential import EDGE_FLOATS, EDGE_INTS, STRINGS

BIG = 2**53
STORED_INTS = [*EDGE_INTS, 2, 3]
STORED_FLOATS = [*EDGE_FLOATS, float(BIG - 1), 0.1]
NUMBER_OPERANDS = [
    *STORED_INTS,
    *STORED_FLOATS,
    BIG + 3,
    2.5,
    -2.5,
    1e19,
    -1e19,
    Decimal("0.1"),
    Decimal("2"),
    Decimal("2.5"),
    Decimal(BIG + 1),
    Decimal("-0"),
    Decimal("1E+19"),
]
STRING_OPERANDS = [*STRINGS, "e\u0301z", "\U0001f600a"]
OPS = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]


def _rows():
    rows = []
    count = max(len(STORED_INTS), len(STORED_FLOATS), len(STRINGS))
    for n in range(count):
        rows.append(
            {
                "id": n,
                "i": STORED_INTS[n] if n < len(STORED_INTS) else None,
                "f": STORED_FLOATS[n] if n < len(STORED_FLOATS) else None,
                "s": STRINGS[n] if n < len(STRINGS) else None,
                "b": None,
            }
        )
    return rows


def _filters():
    for field, operands in (("i", NUMBER_OPERANDS), ("f", NUMBER_OPERANDS), ("s", STRING_OPERANDS)):
        for operand in operands:
            for op in OPS:
                yield {field: {op: operand}}
        yield {field: {"$in": operands[::3]}}
        yield {field: {"$nin": operands[1::3]}}


@pytest.fixture
def loaded(env):
    q = env.q("Sample")
    q.delete(all=True)
    rows = _rows()
    q.bulk_insert(rows)
    yield q, rows
    q.delete(all=True)


def test_every_edge_operand_selects_what_mongodb_selects(loaded):
    q, rows = loaded
    wrong = []
    for filter_by in _filters():
        expected = [r["id"] for r in oracle.select(rows, filter_by, [("id", False)])]
        got = [r.id for r in q.find_all(filter_by, order_by="id", paginate=False)]
        if got != expected or q.count(filter_by) != len(expected):
            wrong.append((filter_by, got, expected))
    assert not wrong, f"{len(wrong)} filters differ from MongoDB's rules, e.g. {wrong[:3]}"


def test_edge_values_read_back_as_written(loaded):
    q, rows = loaded
    stored = [{k: getattr(r, k) for k in ("id", "i", "f", "s", "b")} for r in q.find_all(order_by="id", paginate=False)]
    assert stored == rows
