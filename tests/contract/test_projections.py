"""fields=[...] on find_one, find_all and paginate: only those fields and the key, the same shape everywhere."""

from __future__ import annotations

import pytest

import db_plugins
from tests.contract.test_crud import seed

ALL = ("oid", "mag", "n", "name", "flag")


def loaded(instance) -> dict:
    """The fields an instance holds, read through its attributes (a field left out raises)."""
    values = {}
    for name in ALL:
        try:
            values[name] = getattr(instance, name)
        except db_plugins.FieldNotLoaded:
            assert not hasattr(instance, name)
    return values


def test_find_one_loads_the_fields_and_the_key(env):
    seed(env)
    item = env.q("Item").find_one({"oid": "O3"}, fields=["mag"])
    assert loaded(item) == {"oid": "O3", "mag": 3.0}
    with pytest.raises(db_plugins.FieldNotLoaded, match=r"Item\.name was not loaded"):
        item.name  # noqa: B018
    with pytest.raises(AttributeError):  # FieldNotLoaded is an AttributeError
        item.n  # noqa: B018


def test_a_field_left_out_can_be_set_and_the_instance_updated(env):
    seed(env)
    q = env.q("Item")
    item = q.find_one({"oid": "O2"}, fields=["n"])
    item.name = "renamed"
    assert item.name == "renamed"
    q.update(item, {"n": 20})
    stored = q.find_one({"oid": "O2"})
    assert (stored.n, stored.name, stored.mag) == (20, "name2", 2.0)


def test_paginate_with_fields_keeps_both_cursors(env):
    seed(env, 7)
    q = env.q("Item")
    first = q.paginate(per_page=3, order_by="-n", fields=["name"])
    # The ordering's fields come along: the cursors are made of them.
    assert [loaded(i) for i in first.items] == [{"oid": f"O{k}", "n": k, "name": f"name{k}"} for k in (6, 5, 4)]
    second = q.paginate(per_page=3, order_by="-n", fields=["name"], after=first.next_cursor)
    assert [i.oid for i in second.items] == ["O3", "O2", "O1"]
    assert [loaded(i) for i in second.next().items] == [{"oid": "O0", "n": 0, "name": "name0"}]
    back = q.paginate(per_page=3, order_by="-n", fields=["name"], after=second.prev_cursor)
    assert [i.oid for i in back.items] == ["O6", "O5", "O4"]
    offset = q.paginate(page=2, per_page=3, fields=["flag"])
    assert [loaded(i) for i in offset.items] == [{"oid": f"O{k}", "flag": k % 2 == 0} for k in (3, 4, 5)]


def test_streaming_with_fields(env):
    seed(env, 9)
    rows = list(env.q("Item").find_all({"n": {"$gte": 2}}, paginate=False, fields=["mag"], batch_size=2))
    assert [loaded(i) for i in rows] == [{"oid": f"O{k}", "mag": float(k)} for k in range(2, 9)]
    pages = env.q("Item").find_all(per_page=4, fields=["n"])
    assert [loaded(i) for i in pages.items] == [{"oid": f"O{k}", "n": k} for k in range(4)]


def test_fields_naming_every_field_loads_everything(env):
    seed(env)
    item = env.q("Item").find_one({"oid": "O1"}, fields=list(ALL))
    assert loaded(item) == {"oid": "O1", "mag": 1.0, "n": 1, "name": "name1", "flag": False}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (["nope"], "'nope' is not a field of Item"),
        ([], "name at least one field"),
        ("mag", "expected a list of field names"),
        ([1], "1 is not a field"),
    ],
)
def test_bad_fields_are_refused_before_any_read(env, fields, message):
    with pytest.raises(db_plugins.FilterError, match=message):
        env.q("Item").find_one({"oid": "O1"}, fields=fields)
    with pytest.raises(db_plugins.FilterError, match=message):
        env.q("Item").paginate(fields=fields)
    with pytest.raises(db_plugins.FilterError, match=message):
        env.q("Item").find_all(paginate=False, fields=fields)
