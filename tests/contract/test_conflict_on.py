"""Keys of 0 and below, and bulk_insert's conflict_on: which unique key decides "already exists".

Natural has a generated ``id`` and a unique ``key``; TwoKeys adds a second unique
``code``. Rows give ``key`` (and ``code``), never ``id``.
"""

from __future__ import annotations

from typing import Any

import pytest

import db_plugins

MODES = ("error", "ignore", "update")


def stored(env: Any, name: str = "Natural", fields: tuple[str, ...] = ("key", "value")) -> list[tuple[Any, ...]]:
    return sorted(tuple(getattr(r, f) for f in fields) for r in env.q(name).find_all(paginate=False))


def identity(env: Any, name: str = "Natural") -> dict[str, Any]:
    """``key`` -> the row's generated primary key."""
    pk = env.key(name)
    return {r.key: r[pk] if isinstance(r, dict) else getattr(r, pk) for r in env.q(name).find_all(paginate=False)}


# -- keys of 0 and -1 ---------------------------------------------------------------


@pytest.mark.parametrize("how", ["insert", *MODES])
def test_keys_zero_and_negative_are_stored_as_given(env, how):
    """MariaDB reads an explicit 0 in an AUTO_INCREMENT column as "generate one" unless told not to."""
    q = env.q("Numbered")
    rows = [{"id": 0, "label": "zero"}, {"id": -1, "label": "minus one"}]
    if how == "insert":
        assert [q.insert(dict(r)).id for r in rows] == [0, -1]
    else:
        assert q.bulk_insert([dict(r) for r in rows], on_conflict=how) == 2
    assert stored(env, "Numbered", ("id", "label")) == [(-1, "minus one"), (0, "zero")]
    assert q.find_one({"id": 0}).label == "zero"
    assert q.find_one({"id": -1}).label == "minus one"


@pytest.mark.parametrize("mode", ["ignore", "update"])
def test_key_zero_is_a_key_like_any_other_on_conflict(env, mode):
    q = env.q("Numbered")
    q.insert({"id": 0, "label": "first"})
    assert q.bulk_insert([{"id": 0, "label": "again"}, {"id": 1, "label": "one"}], on_conflict=mode) == (
        1 if mode == "ignore" else 2
    )
    label = "first" if mode == "ignore" else "again"
    assert stored(env, "Numbered", ("id", "label")) == [(0, label), (1, "one")]


# -- conflict_on: the natural key ----------------------------------------------------


def test_ignore_by_the_natural_key(env):
    q = env.q("Natural")
    q.bulk_insert([{"key": "a", "value": 1.0}, {"key": "b", "value": 2.0}])
    before = identity(env)
    assert q.bulk_insert([{"key": "b", "value": 20.0}, {"key": "c", "value": 30.0}], on_conflict="ignore") == 1
    assert stored(env) == [("a", 1.0), ("b", 2.0), ("c", 30.0)]
    assert {k: v for k, v in identity(env).items() if k in before} == before


def test_update_by_the_natural_key(env):
    q = env.q("Natural")
    q.bulk_insert([{"key": "a", "value": 1.0}, {"key": "b", "value": 2.0}])
    before = identity(env)
    assert q.bulk_insert([{"key": "b", "value": 20.0}, {"key": "c", "value": 30.0}], on_conflict="update") == 2
    assert stored(env) == [("a", 1.0), ("b", 20.0), ("c", 30.0)]
    # The row updated is the stored one: it keeps its generated key.
    assert {k: v for k, v in identity(env).items() if k in before} == before


@pytest.mark.parametrize("conflict_on", ["key", ["key"], ("key",)])
def test_explicit_conflict_on(env, conflict_on):
    q = env.q("Natural")
    q.insert({"key": "a", "value": 1.0})
    rows = [{"key": "a", "value": 2.0}, {"key": "b", "value": 3.0}]
    assert q.bulk_insert(rows, on_conflict="ignore", conflict_on=conflict_on) == 1
    assert stored(env) == [("a", 1.0), ("b", 3.0)]
    assert q.bulk_insert(rows, on_conflict="update", conflict_on=conflict_on) == 2
    assert stored(env) == [("a", 2.0), ("b", 3.0)]


def test_update_of_the_conflict_key_alone_writes_nothing_new(env):
    q = env.q("Natural")
    q.insert({"key": "a", "value": 1.0})
    assert q.bulk_insert([{"key": "a"}, {"key": "b"}], on_conflict="update") == 2
    assert stored(env) == [("a", 1.0), ("b", None)]


@pytest.mark.parametrize("conflict_on", ["value", ["key", "value"], "nope", [], 3, ["key", "key"]])
def test_conflict_on_must_name_a_unique_key(env, conflict_on):
    with pytest.raises(db_plugins.ValidationError, match="conflict_on") as info:
        env.q("Natural").bulk_insert([{"key": "a", "value": 1.0}], on_conflict="ignore", conflict_on=conflict_on)
    assert "\n" not in str(info.value)
    if conflict_on in ("value", ["key", "value"], "nope"):
        assert "not a unique key" in str(info.value) and "key" in str(info.value)
    assert env.q("Natural").count() == 0


@pytest.mark.parametrize("mode", ["ignore", "update"])
def test_rows_giving_no_unique_key_are_refused(env, mode):
    """No field the rows give decides which exist: refused, naming the unique keys."""
    with pytest.raises(db_plugins.ValidationError, match="unique keys") as info:
        env.q("Natural").bulk_insert([{"value": 1.0}, {"value": 2.0}], on_conflict=mode)
    assert "key" in str(info.value) and "conflict_on" in str(info.value)
    with pytest.raises(db_plugins.ValidationError, match="unique keys"):
        env.q("Event").bulk_insert([{"oid": "A"}], on_conflict=mode)
    assert env.q("Natural").count() == 0 and env.q("Event").count() == 0


@pytest.mark.parametrize("mode", ["ignore", "update"])
def test_rows_giving_two_unique_keys_need_conflict_on(env, mode):
    with pytest.raises(db_plugins.ValidationError, match="several unique keys") as info:
        env.q("TwoKeys").bulk_insert([{"key": "a", "code": "x"}], on_conflict=mode)
    assert "key" in str(info.value) and "code" in str(info.value) and "\n" not in str(info.value)
    assert env.q("TwoKeys").count() == 0
    assert env.q("TwoKeys").bulk_insert([{"key": "a", "code": "x"}], on_conflict=mode, conflict_on="code") == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_collision_on_another_unique_key_fails_and_writes_nothing(env, mode):
    """ON DUPLICATE KEY and INSERT IGNORE fire on any unique key: not so here, on any engine."""
    q = env.q("TwoKeys")
    q.bulk_insert([{"key": "a", "code": "x", "value": 1.0}, {"key": "b", "code": "y", "value": 2.0}])
    rows = [{"key": "c", "code": "z", "value": 3.0}, {"key": "d", "code": "x", "value": 4.0}]
    with pytest.raises(db_plugins.DuplicateKeyError) as info:
        q.bulk_insert(rows, on_conflict=mode, conflict_on="key")
    assert "\n" not in str(info.value)
    if not env.is_sql:
        assert "code='x'" in str(info.value) and "ObjectId" not in str(info.value)
    before = [("a", "x", 1.0), ("b", "y", 2.0)]
    if mode == "error" and not env.db.features.atomic_bulk:
        # Without transactions a plain insert_many keeps the rows that went in (documented).
        assert info.value.written == 1 and info.value.failed_keys == ["d"]
        before.append(("c", "z", 3.0))
    assert stored(env, "TwoKeys", ("key", "code", "value")) == sorted(before)


def test_an_update_moving_onto_another_rows_unique_value_fails_and_writes_nothing(env):
    q = env.q("TwoKeys")
    q.bulk_insert([{"key": "a", "code": "x", "value": 1.0}, {"key": "b", "code": "y", "value": 2.0}])
    rows = [{"key": "c", "code": "z", "value": 3.0}, {"key": "a", "code": "y", "value": 5.0}]
    with pytest.raises(db_plugins.DuplicateKeyError) as info:
        q.bulk_insert(rows, on_conflict="update", conflict_on="key")
    if not env.is_sql:
        assert "code='y'" in str(info.value) and "ObjectId" not in str(info.value)
    assert stored(env, "TwoKeys", ("key", "code", "value")) == [("a", "x", 1.0), ("b", "y", 2.0)]
    # Its own unique value, or a free one, is no collision.
    rows = [{"key": "a", "code": "x", "value": 6.0}, {"key": "b", "code": "w", "value": 7.0}]
    assert q.bulk_insert(rows, on_conflict="update", conflict_on="key") == 2
    assert stored(env, "TwoKeys", ("key", "code", "value")) == [("a", "x", 6.0), ("b", "w", 7.0)]


@pytest.mark.parametrize("mode", ["ignore", "update"])
def test_two_new_rows_sharing_another_unique_value_fail(env, mode):
    q = env.q("TwoKeys")
    rows = [{"key": "c", "code": "z"}, {"key": "d", "code": "z"}]
    with pytest.raises(db_plugins.DuplicateKeyError) as info:
        q.bulk_insert(rows, on_conflict=mode, conflict_on="key")
    if not env.is_sql:
        assert "code='z'" in str(info.value)
    assert q.count() == 0


def test_duplicates_within_one_call(env):
    """Rows sharing a conflict key: "ignore" keeps the first, "update" the last."""
    q = env.q("Natural")
    rows = [{"key": "a", "value": 1.0}, {"key": "a", "value": 2.0}, {"key": "b", "value": 3.0}]
    assert q.bulk_insert(rows, on_conflict="ignore") == 2
    assert stored(env) == [("a", 1.0), ("b", 3.0)]
    rows = [{"key": "a", "value": 5.0}, {"key": "b", "value": 6.0}, {"key": "a", "value": 7.0}]
    assert q.bulk_insert(rows, on_conflict="update") == 2
    assert stored(env) == [("a", 7.0), ("b", 6.0)]


@pytest.mark.parametrize("mode", ["ignore", "update"])
def test_conflict_key_across_batches(env, mode):
    features = env.db.features
    size = features.bulk_batch_size
    features.bulk_batch_size = 2
    try:
        rows = ({"key": k, "value": float(i)} for i, k in enumerate(["a", "b", "a", "c", "a"]))
        written = env.q("Natural").bulk_insert(rows, on_conflict=mode)
    finally:
        features.bulk_batch_size = size
    if mode == "ignore":
        assert written == 3 and stored(env) == [("a", 0.0), ("b", 1.0), ("c", 3.0)]
    else:  # every row written counts: a and b, a and c, a
        assert written == 5 and stored(env) == [("a", 4.0), ("b", 1.0), ("c", 3.0)]


def test_error_mode_names_the_duplicate_key(env):
    q = env.q("Natural")
    q.insert({"key": "a", "value": 1.0})
    with pytest.raises(db_plugins.DuplicateKeyError) as info:
        q.bulk_insert([{"key": "b"}, {"key": "a"}])
    if not env.is_sql:
        assert "key='a'" in str(info.value) and "ObjectId" not in str(info.value)
    if env.db.features.atomic_bulk:
        assert stored(env) == [("a", 1.0)]
    else:  # the row that went in stays (documented)
        assert info.value.written == 1 and info.value.failed_keys == ["a"]


def test_the_primary_key_decides_when_the_rows_give_it(env):
    """Default: the primary key when every row gives it (Item is keyed by oid)."""
    q = env.q("Item")
    q.insert({"oid": "A", "mag": 1.0})
    assert q.bulk_insert([{"oid": "A", "mag": 2.0}, {"oid": "B", "mag": 3.0}], on_conflict="update") == 2
    assert q.find_one({"oid": "A"}).mag == 2.0
    with pytest.raises(db_plugins.ValidationError, match="not a unique key"):
        q.bulk_insert([{"oid": "A"}], on_conflict="update", conflict_on="mag")


def test_an_update_onto_another_rows_unique_value_is_a_duplicate_key(env):
    """Every engine reports it as DuplicateKeyError (FerretDB's backend error included), the row unchanged."""
    q = env.q("Natural")
    q.bulk_insert([{"key": "a", "value": 1.0}, {"key": "b", "value": 2.0}])
    row = q.find_one({"key": "a"})
    with pytest.raises(db_plugins.DuplicateKeyError):
        q.update(row, {"key": "b"})
    with pytest.raises(db_plugins.DuplicateKeyError):
        q.update_many({"key": "a"}, {"key": "b"})
    assert sorted((r.key, r.value) for r in q.find_all(paginate=False)) == [("a", 1.0), ("b", 2.0)]
