"""Required fields: a missing one (or None for a NOT NULL one) is a ValidationError naming it, before any write.

SQL: a NOT NULL column without a default (Python-side or server-side) that
the database does not fill itself (autoincrement / identity key, computed
column). Mongo: a ``required=True`` field. The contract models mirror each
other: ``Event.oid`` and the string key ``Item.oid`` are required.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import db_plugins

MISSING = "missing required field 'oid' for Event"
NONE = "field 'oid' of Event is required (got None)"


def refused(call, *texts):
    with pytest.raises(db_plugins.ValidationError) as info:
        call()
    for text in texts:
        assert text in str(info.value), str(info.value)
    return info.value


@pytest.fixture
def events(env):
    """Two stored events (so that "nothing written" means the count stays 2)."""
    env.q("Event").bulk_insert([{"oid": "A", "value": 1.0}, {"oid": "B", "value": 2.0}])
    return env


def test_insert_without_a_required_field(events):
    q = events.q("Event")
    refused(lambda: q.insert({"value": 3.0}), "insert: " + MISSING)
    refused(lambda: q.insert(events.model("Event")(value=3.0)), "insert: " + MISSING)
    refused(lambda: q.insert({"oid": None, "value": 3.0}), "insert: " + NONE)
    refused(lambda: events.q("Item").insert({"mag": 1.0}), "insert: missing required field 'oid' for Item")
    assert q.count() == 2 and events.q("Item").count() == 0


def test_fields_with_defaults_or_generated_keys_are_not_required(events):
    event = events.q("Event").insert({"oid": "C"})  # the key is generated, value is nullable
    assert getattr(event, events.key("Event")) is not None
    item = events.q("Item").insert({"oid": "X"})  # n has a default
    assert item.n == 0


@pytest.mark.parametrize("on_conflict", ["error", "ignore", "update"])
def test_bulk_insert_names_the_row(events, on_conflict):
    q = events.q("Event")
    # Rows without the generated key decide nothing by themselves: name the key that would.
    how = {"on_conflict": on_conflict} | ({"conflict_on": events.key("Event")} if on_conflict != "error" else {})
    rows = [{"oid": f"E{i}", "value": float(i)} for i in range(5)]
    missing = [*rows[:3], {"value": 9.0}, *rows[3:]]
    refused(lambda: q.bulk_insert(missing, **how), f"bulk_insert row 3: {MISSING}")
    nothing = [*rows[:4], {"oid": None, "value": 9.0}, *rows[4:]]
    error = refused(lambda: q.bulk_insert(nothing, **how), f"bulk_insert row 4: {NONE}")
    assert error.row == 4
    assert q.count() == 2


def test_bulk_insert_names_the_row_among_row_shapes(events):
    """Rows giving different sets of fields: the index is still the row's place in the input."""
    q = events.q("Event")
    rows = [{"oid": "A1"}, {"oid": "A2", "value": 1.0}, {"value": 2.0, "oid": "A3"}, {"oid": "A4"}, {"value": 5.0}]
    refused(lambda: q.bulk_insert(rows), f"bulk_insert row 4: {MISSING}")
    rows[4] = {"oid": None}
    refused(lambda: q.bulk_insert(rows), f"bulk_insert row 4: {NONE}")
    rows[4] = {"value": 5.0, "oid": None}
    refused(lambda: q.bulk_insert(rows), f"bulk_insert row 4: {NONE}")
    assert q.count() == 2


def test_bulk_insert_counts_rows_across_batches(events):
    q = events.q("Event")
    size = events.db.features.bulk_batch_size
    rows = ({"oid": f"E{i}"} if i != size + 2 else {"value": 1.0} for i in range(size + 5))
    refused(lambda: q.bulk_insert(rows), f"bulk_insert row {size + 2}: {MISSING}")
    if events.db.features.atomic_bulk:
        assert q.count() == 2


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ({"value": "x"}, "field 'value' of Event expects a number"),
        ({"oid": 7}, "field 'oid' of Event expects a string"),
    ],
)
def test_bulk_insert_names_the_row_of_a_refused_value(events, bad, problem):
    """A value a column refuses (checked a column at a time on SQL) names its row, as a missing field does."""
    q = events.q("Event")
    size = events.db.features.bulk_batch_size
    rows = [{"oid": f"E{i}", "value": float(i)} for i in range(size + 5)]
    rows[size + 3] |= bad
    error = refused(lambda: q.bulk_insert(rows), f"bulk_insert row {size + 3}: {problem}")
    assert error.row == size + 3
    if events.db.features.atomic_bulk:
        assert q.count() == 2


def test_bulk_insert_of_items_without_their_key(env):
    q = env.q("Item")
    refused(lambda: q.bulk_insert([{"oid": "A"}, {"mag": 1.0}]), "bulk_insert row 1:", "'oid'", "Item")
    refused(lambda: q.bulk_insert([{"oid": "A"}, {"oid": None}]), "bulk_insert row 1:", "'oid'", "Item")
    assert q.count() == 0


def test_get_or_create_miss_without_a_required_field(events):
    q = events.q("Event")
    refused(lambda: q.get_or_create({"value": 7.0}), "get_or_create: " + MISSING)
    refused(lambda: q.get_or_create({"value": {"$gt": 5.0}}), "get_or_create: " + MISSING)
    refused(lambda: q.get_or_create({"oid": None}), "get_or_create: " + NONE)
    refused(lambda: q.get_or_create({"value": 7.0}, oid=None), "get_or_create: " + NONE)
    assert q.count() == 2
    # A hit needs nothing more; a default can complete the new row.
    found, created = q.get_or_create({"value": 2.0})
    assert (found.oid, created) == ("B", False)
    made, created = q.get_or_create({"value": 7.0}, oid="C")
    assert (made.oid, created) == ("C", True)


def test_get_or_create_miss_in_a_transaction(events):
    if not events.is_sql and not events.db.features.transactions:
        pytest.skip("no transactions on this server")
    q = events.q("Event")
    with events.db.transaction():
        refused(lambda: q.get_or_create({"value": 7.0}), "get_or_create: " + MISSING)
    assert q.count() == 2


def test_update_to_none_is_refused(events):
    q = events.q("Event")
    event = q.find_one({"oid": "A"})
    refused(lambda: q.update(event, {"oid": None}), "update: " + NONE)
    refused(lambda: q.update_many({"oid": "B"}, {"oid": None}), "update_many: " + NONE)
    refused(lambda: q.bulk_update([event], [{"oid": None}]), "bulk_update: " + NONE)
    assert sorted(e.oid for e in q.find_all(paginate=False)) == ["A", "B"]


def test_messages_are_the_same_on_every_engine(events):
    """The exact text, so an engine cannot drift to its own wording."""
    q = events.q("Event")
    error = refused(lambda: q.bulk_insert([{"oid": "Z"}, {"value": 1.0}]))
    assert str(error) == "bulk_insert row 1: " + MISSING and error.row == 1
    assert re.fullmatch("insert: " + re.escape(MISSING), str(refused(lambda: q.insert({}))))


# -- which SQL columns are required (SQL only: the column kinds Mongo has no counterpart for) ----------------


class _Base(DeclarativeBase):
    pass


class _Kinds(_Base):
    __tablename__ = "kinds"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)  # autoincrement key
    plain: Mapped[str] = mapped_column(sa.String(10))  # required
    python_default: Mapped[int] = mapped_column(sa.Integer, default=1)
    server_default: Mapped[str] = mapped_column(sa.String(10), server_default="s")
    computed: Mapped[int] = mapped_column(sa.Integer, sa.Computed("python_default + 1"), nullable=False)
    optional: Mapped[str | None] = mapped_column(sa.String(10))


class _Composite(_Base):
    __tablename__ = "composite"

    a: Mapped[int] = mapped_column(sa.Integer, primary_key=True)  # no autoincrement in a composite key
    b: Mapped[str] = mapped_column(sa.String(10), primary_key=True)


def test_which_sql_columns_are_required(tmp_path):
    with db_plugins.connect({"URL": f"sqlite:///{tmp_path / 'kinds.db'}", "MODELS": f"{__name__}:_Base"}) as db:
        db.create_db()
        q = db.query(_Kinds)
        refused(lambda: q.insert({}), "missing required field 'plain' for _Kinds")
        refused(lambda: q.bulk_insert([{"plain": "p"}, {"optional": "o"}]), "row 1: missing required field 'plain'")
        for field in ("plain", "python_default", "server_default"):
            refused(lambda f=field: q.insert({"plain": "p", f: None}), f"field {field!r} of _Kinds is required")
            refused(lambda f=field: q.bulk_insert([{"plain": "p", f: None}]), f"row 0: field {field!r}")
        row = q.insert({"plain": "p"})
        assert (row.python_default, row.optional) == (1, None)
        assert q.bulk_insert([{"plain": "p", "id": None}]) == 1  # None asks for a generated key
        assert q.count() == 2
        c = db.query(_Composite)
        refused(lambda: c.insert({"a": 1}), "missing required field 'b' for _Composite")
        refused(lambda: c.bulk_insert([{"b": "x"}]), "row 0: missing required field 'a' for _Composite")
