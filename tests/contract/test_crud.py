"""insert, find_one, find_all, count, check_exists, update, update_many, bulk_update, delete."""

from __future__ import annotations

import pytest

import db_plugins


def seed(env, n=5):
    rows = [{"oid": f"O{i}", "mag": float(i), "n": i, "name": f"name{i}", "flag": i % 2 == 0} for i in range(n)]
    assert env.q("Item").bulk_insert(rows) == n
    return rows


def test_insert_dict_returns_instance(env):
    item = env.q("Item").insert({"oid": "A", "mag": 1.5, "name": "x"})
    assert (item.oid, item.mag, item.name) == ("A", 1.5, "x")
    assert item.n == 0  # the model's default


def test_insert_model_instance(env):
    obj = env.model("Item")(oid="B", mag=2.0)
    stored = env.q("Item").insert(obj)
    assert stored.oid == "B"
    assert env.q("Item").find_one({"oid": "B"}).mag == 2.0


def test_insert_fills_generated_key(env):
    event = env.q("Event").insert({"oid": "A", "value": 1.0})
    key = getattr(event, env.key("Event"))
    assert key is not None
    assert env.q("Event").find_one({env.key("Event"): key}).oid == "A"


def test_insert_duplicate_raises_duplicate_key(env):
    env.q("Item").insert({"oid": "A"})
    with pytest.raises(db_plugins.DuplicateKeyError) as info:
        env.q("Item").insert({"oid": "A"})
    assert isinstance(info.value, db_plugins.IntegrityError)
    assert info.value.__cause__ is not None
    assert env.q("Item").count() == 1


def test_insert_unknown_field_is_refused(env):
    with pytest.raises(db_plugins.ValidationError, match="unknown field 'nope'"):
        env.q("Item").insert({"oid": "A", "nope": 1})
    assert env.q("Item").count() == 0


def test_insert_wrong_type_is_refused(env):
    with pytest.raises(db_plugins.ValidationError, match="'n'"):
        env.q("Item").insert({"oid": "A", "n": "three"})
    assert env.q("Item").count() == 0


def test_insert_other_model_is_refused(env):
    event = env.model("Event")(oid="A", value=1.0)
    with pytest.raises(db_plugins.ValidationError, match="Item"):
        env.q("Item").insert(event)
    assert env.q("Item").count() == 0


def test_find_one_default_order_is_primary_key(env):
    env.q("Item").bulk_insert([{"oid": o} for o in ("C", "A", "B")])
    assert env.q("Item").find_one().oid == "A"
    assert env.q("Item").find_one(order_by="-oid").oid == "C"
    assert env.q("Item").find_one({"oid": "Z"}) is None


def test_find_one_by_plain_equalities_matches_the_operator_form(env):
    """``{"f": v}`` (SQL binds it to a prepared statement) finds exactly what ``{"f": {"$eq": v}}`` finds:
    case, trailing spaces, int-vs-float and field order included."""
    q = env.q("Item")
    q.bulk_insert(
        [
            {"oid": "a", "mag": 2.0, "n": 2, "name": "Abc"},
            {"oid": "c", "mag": 2.5, "n": 3, "name": "abc"},
            {"oid": "b", "mag": 3.0, "n": 3, "name": "abc "},
        ]
    )

    def key(row):
        return None if row is None else row.oid

    for filter_by in (
        {"oid": "a"},
        {"oid": "A"},
        {"name": "abc "},
        {"name": "abc"},
        {"name": "ABC"},
        {"mag": 2},
        {"mag": 2.5, "n": 3},
        {"n": 3, "mag": 2.5},
        {"n": 3, "name": "abc "},
        {"n": 3},
        {"n": 4},
    ):
        expected = q.find_one({f: {"$eq": v} for f, v in filter_by.items()})
        assert key(q.find_one(filter_by)) == key(expected), filter_by
        found, created = q.get_or_create(filter_by, oid="new") if expected is not None else (expected, False)
        assert (key(found), created) == (key(expected), False), filter_by
    assert key(q.find_one({"n": 3})) == "b"  # the first in key order


def test_find_one_with_filter_and_order(env):
    seed(env)
    assert env.q("Item").find_one({"n": {"$gte": 2}}, order_by="-mag").oid == "O4"
    assert env.q("Item").find_one({"flag": True}, order_by=["-n"]).oid == "O4"


def test_find_all_paginates_by_default(env):
    seed(env, 12)
    page = env.q("Item").find_all({"n": {"$lt": 11}}, order_by="n", per_page=5, page=2)
    assert isinstance(page, db_plugins.Pagination)
    assert [i.n for i in page] == [5, 6, 7, 8, 9]
    assert page.total == 11


def test_find_all_streams_when_not_paginated(env):
    seed(env, 25)
    rows = env.q("Item").find_all({"n": {"$gte": 3}}, order_by="-n", paginate=False, batch_size=4)
    assert not isinstance(rows, list)
    assert [r.n for r in rows] == list(range(24, 2, -1))


def test_count_and_check_exists(env):
    seed(env, 6)
    q = env.q("Item")
    assert q.count() == 6
    assert q.count({"flag": True}) == 3
    assert q.count(max_results=4) == 4
    assert q.check_exists({"oid": "O3"}) is True
    assert q.check_exists({"oid": "nope"}) is False


def test_update_persists_and_returns_instance(env):
    seed(env, 2)
    item = env.q("Item").find_one({"oid": "O1"})
    updated = env.q("Item").update(item, {"mag": 9.5, "name": "new"})
    assert updated.mag == 9.5 and updated.name == "new"
    other = env.reconnect()
    try:
        again = other.query(env.model("Item")).find_one({"oid": "O1"})
        assert (again.mag, again.name, again.n) == (9.5, "new", 1)
    finally:
        other.close()


def test_update_of_deleted_row_raises_not_found(env):
    seed(env, 1)
    item = env.q("Item").find_one({"oid": "O0"})
    env.q("Item").delete({"oid": "O0"})
    with pytest.raises(db_plugins.NotFoundError, match="O0"):
        env.q("Item").update(item, {"mag": 1.0})
    assert env.q("Item").count() == 0


def test_update_with_bad_value_changes_nothing(env):
    seed(env, 1)
    item = env.q("Item").find_one({"oid": "O0"})
    with pytest.raises(db_plugins.ValidationError):
        env.q("Item").update(item, {"n": "many"})
    assert env.q("Item").find_one({"oid": "O0"}).n == 0


def test_update_many_counts_rows(env):
    seed(env, 6)
    assert env.q("Item").update_many({"flag": True}, {"name": "even"}) == 3
    assert env.q("Item").count({"name": "even"}) == 3
    assert env.q("Item").update_many({"oid": "nope"}, {"name": "x"}) == 0


def test_bulk_update_applies_each_rows_values(env):
    seed(env, 4)
    items = list(env.q("Item").find_all(order_by="oid", paginate=False))
    changed = env.q("Item").bulk_update(items[:3], [{"mag": 10.0}, {"mag": 11.0, "name": "b"}, {"n": 42}])
    assert changed == 3
    got = {i.oid: (i.mag, i.name, i.n) for i in env.q("Item").find_all(paginate=False)}
    assert got == {
        "O0": (10.0, "name0", 0),
        "O1": (11.0, "b", 1),
        "O2": (2.0, "name2", 42),
        "O3": (3.0, "name3", 3),
    }
    assert items[1].mag == 11.0  # the instances follow


def test_bulk_update_length_mismatch(env):
    seed(env, 2)
    items = list(env.q("Item").find_all(paginate=False))
    with pytest.raises(ValueError, match="2 instances but 1"):
        env.q("Item").bulk_update(items, [{"mag": 1.0}])


def test_delete(env):
    seed(env, 5)
    assert env.q("Item").delete({"n": {"$gte": 3}}) == 2
    assert env.q("Item").count() == 3
    with pytest.raises(ValueError, match="all=True"):
        env.q("Item").delete({})
    with pytest.raises(ValueError, match="all=True"):
        env.q("Item").delete()
    assert env.q("Item").count() == 3
    assert env.q("Item").delete(all=True) == 3
    assert env.q("Item").count() == 0


def test_bad_filter_is_refused_before_io(env):
    seed(env, 2)
    with pytest.raises(db_plugins.FilterError, match="unknown field 'nope'"):
        env.q("Item").find_one({"nope": 1})
    with pytest.raises(db_plugins.FilterError, match=r"\$where"):
        env.q("Item").count({"$where": "1 == 1"})
    with pytest.raises(db_plugins.FilterError, match="expected a list"):
        env.q("Item").delete({"oid": {"$in": "O1"}})
    assert env.q("Item").count() == 2


def test_insert_of_an_instance_read_earlier(env):
    seed(env, 1)
    item = env.q("Item").find_one({"oid": "O0"})
    with pytest.raises(db_plugins.DuplicateKeyError):
        env.q("Item").insert(item)
    env.q("Item").delete({"oid": "O0"})
    again = env.q("Item").insert(item)
    assert again.oid == "O0" and env.q("Item").count() == 1


def test_stream_inside_transaction_sees_its_writes(env):
    if not env.db.features.transactions:
        with pytest.raises(db_plugins.UnsupportedOperation):
            with env.db.transaction():
                pass
        return
    with env.db.transaction():
        env.q("Item").bulk_insert([{"oid": "T1"}, {"oid": "T2"}])
        assert [i.oid for i in env.q("Item").find_all(paginate=False)] == ["T1", "T2"]
