"""bulk_insert in its three on_conflict modes."""

from __future__ import annotations

import pytest

import db_plugins


def rows(keys, mag):
    return [{"oid": k, "mag": mag, "n": i} for i, k in enumerate(keys)]


def state(env):
    return {i.oid: (i.mag, i.n) for i in env.q("Item").find_all(paginate=False)}


def test_bulk_insert_counts_rows(env):
    assert env.q("Item").bulk_insert(rows(["A", "B", "C"], 1.0)) == 3
    assert env.q("Item").count() == 3


def test_bulk_insert_accepts_a_generator_and_instances(env):
    model = env.model("Item")
    gen = (
        model(oid=f"G{i:05d}", mag=float(i)) if i % 2 else {"oid": f"G{i:05d}", "mag": float(i)} for i in range(12000)
    )
    assert env.q("Item").bulk_insert(gen) == 12000
    assert env.q("Item").count() == 12000
    assert env.q("Item").find_one({"oid": "G11999"}).mag == 11999.0


def test_bulk_insert_from_a_generator_that_reuses_one_dict(env):
    """Each row is read as it is yielded (csv-style readers may refill one dict)."""
    q = env.q("Item")

    def rows():
        row = {}
        for i in range(5):
            row["oid"], row["n"] = f"R{i}", i
            yield row

    assert q.bulk_insert(rows()) == 5
    assert sorted((item.oid, item.n) for item in q.find_all(paginate=False)) == [(f"R{i}", i) for i in range(5)]


def test_bulk_insert_empty(env):
    assert env.q("Item").bulk_insert([]) == 0
    assert env.q("Item").bulk_insert([], on_conflict="update") == 0


def test_error_mode_duplicate_inside_batch(env):
    with pytest.raises(db_plugins.DuplicateKeyError):
        env.q("Item").bulk_insert(rows(["A", "B", "A"], 1.0))
    if env.db.features.atomic_bulk:
        assert env.q("Item").count() == 0


def test_error_mode_duplicate_against_existing(env):
    env.q("Item").insert({"oid": "B", "mag": 0.0})
    with pytest.raises(db_plugins.DuplicateKeyError) as info:
        env.q("Item").bulk_insert(rows(["A", "B", "C"], 1.0))
    if env.db.features.atomic_bulk:
        assert state(env) == {"B": (0.0, 0)}
    else:
        # Mongo without transactions: the error says exactly what was written.
        err = info.value
        assert isinstance(err, db_plugins.BulkWriteError)
        assert err.written == 2 and err.failed_keys == ["B"]
        assert state(env) == {"A": (1.0, 0), "B": (0.0, 0), "C": (1.0, 2)}


def test_ignore_mode_skips_existing_and_in_batch_duplicates(env):
    env.q("Item").insert({"oid": "B", "mag": 0.0})
    written = env.q("Item").bulk_insert(
        [{"oid": "A", "mag": 1.0}, {"oid": "B", "mag": 1.0}, {"oid": "A", "mag": 2.0}, {"oid": "C", "mag": 1.0}],
        on_conflict="ignore",
    )
    assert written == 2
    assert state(env) == {"A": (1.0, 0), "B": (0.0, 0), "C": (1.0, 0)}


def test_update_mode_upserts_and_last_duplicate_wins(env):
    env.q("Item").bulk_insert([{"oid": "B", "mag": 0.0, "n": 7}, {"oid": "D", "mag": 0.0, "n": 8}])
    written = env.q("Item").bulk_insert(
        [{"oid": "A", "mag": 1.0}, {"oid": "B", "mag": 1.0}, {"oid": "A", "mag": 2.0}, {"oid": "C", "mag": 3.0}],
        on_conflict="update",
    )
    assert written == 3
    # Only the fields given are overwritten: B keeps its n.
    assert state(env) == {"A": (2.0, 0), "B": (1.0, 7), "C": (3.0, 0), "D": (0.0, 8)}


def test_one_bad_row_writes_nothing_on_atomic_engines(env):
    good = [{"oid": f"K{i}", "mag": 1.0} for i in range(50)]
    bad = [*good[:25], {"oid": "BAD", "n": "not a number"}, *good[25:]]
    with pytest.raises(db_plugins.ValidationError, match="'n'"):
        env.q("Item").bulk_insert(bad)
    # Values are checked before anything is sent, on every engine.
    assert env.q("Item").count() == 0


def test_constraint_violation_mid_stream_rolls_back(env):
    # A NOT NULL / required field missing in the second batch.
    def gen():
        for i in range(6000):
            yield {"oid": f"E{i}", "value": 1.0}
        yield {"value": 2.0}

    with pytest.raises((db_plugins.IntegrityError, db_plugins.ValidationError)):
        env.q("Event").bulk_insert(gen())
    if env.db.features.atomic_bulk:
        assert env.q("Event").count() == 0


def test_on_conflict_must_be_known(env):
    with pytest.raises(ValueError, match="on_conflict"):
        env.q("Item").bulk_insert([{"oid": "A"}], on_conflict="replace")
    assert env.q("Item").count() == 0
