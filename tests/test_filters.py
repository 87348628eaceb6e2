"""The filter language: what parses, and what is refused before any I/O."""

from __future__ import annotations

import pytest

from db_plugins import FilterError
from db_plugins.filters import MATCH_ALL, And, Compare, FieldInfo, Or, after_condition, parse_filter, parse_order

SCHEMA = {
    "oid": FieldInfo("oid", "str", nullable=False),
    "mag": FieldInfo("mag", "float"),
    "n": FieldInfo("n", "int"),
    "flag": FieldInfo("flag", "bool"),
}


def parse(f):
    return parse_filter(f, SCHEMA, "Item")


def test_shapes():
    assert parse(None) == MATCH_ALL
    assert parse({}) == And(())
    assert parse({"oid": "A"}) == Compare("oid", "eq", "A")
    assert parse({"mag": {"$gt": 1, "$lte": 2.5}}) == And((Compare("mag", "gt", 1), Compare("mag", "lte", 2.5)))
    assert parse({"$or": [{"n": 1}, {"n": None}]}) == Or((Compare("n", "eq", 1), Compare("n", "eq", None)))
    assert parse({"n": {"$in": [1, None]}}) == Compare("n", "in", (1, None))
    assert parse({"n": {"$exists": False}}) == Compare("n", "exists", False)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"nope": 1}, "unknown field 'nope' for Item"),
        ({"$where": "this.a == 1"}, r"unknown operator '\$where'"),
        ({"$expr": {"$eq": ["$a", 1]}}, r"unknown operator '\$expr'"),
        ({"$or": [{"$and": [{"n": {"$function": {}}}]}]}, r"unknown operator '\$function'"),
        ({"$nor": [{"n": 1}]}, r"unknown operator '\$nor'"),
        ({"n": {"$regex": "a"}}, r"unknown operator '\$regex'"),
        ({"n": {"$in": 1}}, "expected a list, got int"),
        ({"n": {"$in": "abc"}}, "expected a list, got str"),
        ({"$and": {"n": 1}}, "expected a non-empty list"),
        ({"$or": []}, "expected a non-empty list"),
        ({"$and": ["n"]}, "expected a dict, got str"),
        ({"n": {"a": 1}}, "expected a value or an operator dict"),
        ({"n": {}}, "empty operator dict"),
        ({"n": {"$eq": {"$gt": 1}}}, "expected a number for field 'n', got dict"),
        ({"n": [1, 2]}, "expected a number for field 'n', got list"),
        ({"n": "1"}, "expected a number for field 'n', got str"),
        ({"n": True}, "expected a number for field 'n', got bool"),
        ({"oid": 5}, "expected a string for field 'oid', got int"),
        ({"flag": 1}, "expected a boolean"),
        ({"n": {"$gt": None}}, "expected a non-null value"),
        ({"n": {"$exists": 1}}, "expected true or false"),
        ({1: 2}, "keys must be strings"),
        ("oid = 'A'", "expected a dict, got str"),
        ({"oid.x": 1}, "unknown field 'oid.x'"),
        ({"o$id": 1}, "unknown field"),
    ],
)
def test_refused(bad, message):
    with pytest.raises(FilterError, match=message):
        parse(bad)


def test_depth_limit():
    deep = {"n": 1}
    for _ in range(40):
        deep = {"$and": [deep]}
    with pytest.raises(FilterError, match="nested deeper"):
        parse(deep)


def test_order_parsing():
    assert parse_order(None, SCHEMA, ("oid",)) == (("oid", False),)
    assert parse_order("-mag", SCHEMA, ("oid",)) == (("mag", True), ("oid", False))
    assert parse_order(["n", "-oid"], SCHEMA, ("oid",)) == (("n", False), ("oid", True))
    with pytest.raises(FilterError, match="unknown field 'x'"):
        parse_order("x", SCHEMA, ("oid",))
    with pytest.raises(FilterError, match="named twice"):
        parse_order(["n", "-n"], SCHEMA, ("oid",))
    with pytest.raises(FilterError, match="expected a field name"):
        parse_order(3, SCHEMA, ("oid",))


def test_after_condition_nulls_and_directions():
    # Ascending: nulls come first, so after a null come the other nulls (by key) and every value.
    cond = after_condition((("mag", False), ("oid", False)), (None, "B"))
    assert cond == Or((Compare("mag", "exists", True), And((Compare("mag", "eq", None), Compare("oid", "gt", "B")))))
    # Descending: nulls come last; after a value come smaller values and the nulls.
    cond = after_condition((("mag", True),), (2.0,))
    assert cond == Or((Compare("mag", "lt", 2.0), Compare("mag", "eq", None)))
