"""The query interface on FerretDB and mongomock: what is Mongo-specific beyond the contract suite."""

from __future__ import annotations

import datetime as dt
import decimal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from bson import Decimal128, ObjectId
from pymongo import errors as mongo_errors

import db_plugins
from db_plugins.db.mongo import bulk
from db_plugins.db.mongo.locks import LOCKS_COLLECTION, document_lock
from tests.mongo.models import Doc, Note, Price, Ticket, User


def test_primary_key_field_is_the_stored_id(mdb):
    q = mdb.query(Doc)
    assert q.primary_key == ("key",) and mdb.query(Note).primary_key == ("_id",)
    doc = q.insert({"key": "a", "s": "x"})
    raw = q.collection.find_one({"_id": "a"})
    assert raw["_id"] == "a" and "key" not in raw and raw["i"] == 0
    assert doc == {"key": "a", "s": "x", "i": 0, "day": dt.date(2024, 1, 2)}
    assert q.find_one({"key": "a"}).key == "a"
    assert [d.key for d in q.find_all(order_by="-key", paginate=False)] == ["a"]


def test_keyless_model_gets_an_objectid_and_filters_take_its_hex(mdb):
    q = mdb.query(Note)
    note = q.insert(Note(text="t"))
    assert isinstance(note._id, ObjectId)
    assert q.find_one({"_id": str(note._id)}).text == "t"
    assert q.count({"_id": {"$in": [str(note._id), str(ObjectId())]}}) == 1
    with pytest.raises(db_plugins.FilterError, match="an ObjectId"):
        q.find_one({"_id": "nope"})


def test_objectid_primary_key_is_generated(mdb):
    ticket = mdb.query(Ticket).insert({"title": "t"})
    assert isinstance(ticket.tid, ObjectId)
    assert mdb.query(Ticket).find_one({"tid": ticket.tid}).title == "t"


def test_dates_round_trip_and_filter(mdb):
    q = mdb.query(Doc)
    q.bulk_insert([{"key": f"d{i}", "day": dt.date(2024, 1, i + 1)} for i in range(3)])
    assert q.find_one({"key": "d1"}).day == dt.date(2024, 1, 2)
    assert [d.key for d in q.find_all({"day": {"$gte": dt.date(2024, 1, 2)}}, paginate=False)] == ["d1", "d2"]
    page = q.paginate(per_page=2, order_by="day")
    assert [d.key for d in q.paginate(per_page=2, order_by="day", after=page.next_cursor)] == ["d2"]


def test_values_are_checked_before_any_write(mdb):
    q = mdb.query(Doc)
    with pytest.raises(db_plugins.ValidationError, match="bulk_insert row 2: field 'f' of Doc expects a number"):
        q.bulk_insert([{"key": "a"}, {"key": "b"}, {"key": "c", "f": "x"}])
    with pytest.raises(db_plugins.ValidationError, match="unknown field 'zz'"):
        q.get_or_create({"key": "a"}, zz=1)
    assert q.count() == 0
    q.insert({"key": "a", "i": 1})
    with pytest.raises(db_plugins.ValidationError, match="'key' is the key of Doc"):
        q.update(q.find_one({"key": "a"}), {"key": "b"})
    with pytest.raises(db_plugins.ValidationError, match="field 'i' of Doc"):
        q.update_many({"key": "a"}, {"i": "many"})
    with pytest.raises(db_plugins.ValidationError, match="field 'b' of Doc"):
        q.bulk_update([q.find_one({"key": "a"})], [{"b": "yes"}])
    assert q.collection.find_one({"_id": "a"})["i"] == 1


def test_update_accepts_a_plain_dict_and_refreshes_it(mdb):
    q = mdb.query(Doc)
    q.insert({"key": "a", "s": "x"})
    row = dict(q.find_one({"key": "a"}))
    assert q.update(row, {"s": "y", "f": 1}) is row
    assert row["s"] == "y" and row["f"] == 1.0 and row["i"] == 0


def test_bulk_write_error_says_what_was_written(mdb):
    q = mdb.query(Doc)
    q.insert({"key": "k03"})
    rows = [{"key": f"k{i:02d}"} for i in range(6)] + [{"key": "k01"}]
    with pytest.raises(db_plugins.BulkDuplicateKeyError) as info:
        q.bulk_insert(rows)
    err = info.value
    assert isinstance(err, db_plugins.DuplicateKeyError) and isinstance(err, db_plugins.BulkWriteError)
    assert err.written == 5 and err.failed_keys == ["k03", "k01"]
    assert "2 row(s) not written (duplicate key: key='k03'; key='k01'); 5 other row(s) were written" in str(err)
    assert err.__cause__ is not None
    assert q.count() == 6


def test_bulk_insert_by_column_stores_what_the_row_check_stores(mdb):
    """Plain rows giving the same fields take the column check; the documents match insert's."""
    q = mdb.query(Doc)
    when = dt.datetime(2024, 5, 6, 7, 8, 9, 123456)
    rows = [{"key": f"c{i}", "s": "x", "i": i, "f": 0.5, "b": True, "when": when, "ref": None} for i in range(4)]
    assert q.checks.documents([dict(r) for r in rows]) is not None
    assert q.bulk_insert(rows) == 4
    q.insert({**rows[0], "key": "single"})
    stored = {d["_id"]: d for d in q.collection.find()}
    single = stored.pop("single")
    for i, document in enumerate(sorted(stored.values(), key=lambda d: d["_id"])):
        assert {**document, "_id": "single", "i": 0} == {**single, "i": 0} and document["i"] == i
    assert single["day"] == dt.datetime(2024, 1, 2) and single["when"].microsecond == 123000
    assert rows[0]["key"] == "c0" and "_id" not in rows[0]  # the caller's dicts are left alone


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"i": 2**63}, "field 'i' of Doc expects a 64-bit integer"),
        ({"i": True}, "field 'i' of Doc expects a 64-bit integer"),
        ({"s": 5}, "field 's' of Doc expects a string"),
        ({"f": float("nan")}, "field 'f' of Doc"),
        ({"nope": 1}, "unknown field 'nope'"),
    ],
)
def test_bulk_insert_by_column_refuses_as_the_row_check_does(mdb, bad, message):
    if "f" in bad and mdb.features.nonfinite_floats:
        pytest.skip("this server stores NaN")
    q = mdb.query(Doc)
    rows = [{"key": f"c{i}", "s": "x", "i": i, "f": 0.5} for i in range(5)]
    rows[3] = {**rows[3], **bad}
    with pytest.raises(db_plugins.ValidationError, match=rf"bulk_insert row 3: .*{message}"):
        q.bulk_insert(rows)
    assert q.count() == 0


def test_bulk_write_error_counts_earlier_batches(mdb):
    mdb.features.bulk_batch_size = 4  # this connection only: three batches
    q = mdb.query(Note)
    first = q.insert({"text": "dup"})
    rows = [{"text": str(i)} for i in range(6)] + [{"_id": first._id, "text": "again"}, {"text": "after"}]
    with pytest.raises(db_plugins.BulkDuplicateKeyError) as info:
        q.bulk_insert(iter(rows + [{"text": "never"}] * 4))
    assert info.value.written == 7 and info.value.failed_keys == [first._id]
    assert q.count({"text": "never"}) == 0  # the batches after the failing one are not sent


def test_ignore_and_update_modes_on_a_keyless_model(mdb):
    q = mdb.query(Note)
    note = q.insert({"text": "a", "n": 1})
    assert q.bulk_insert([{"_id": note._id, "text": "b"}, {"text": "c"}], on_conflict="ignore") == 1
    assert q.bulk_insert([{"_id": note._id, "n": 5, "text": "a2"}, {"text": "d"}], on_conflict="update") == 2
    assert q.find_one({"_id": note._id}) == {"_id": note._id, "text": "a2", "n": 5}
    assert q.count() == 3


def test_bulk_update_and_update_many_count_matches(mdb):
    q = mdb.query(Doc)
    q.bulk_insert([{"key": k, "i": 1} for k in "abc"])
    items = list(q.find_all(paginate=False))
    q.delete({"key": "c"})
    assert q.bulk_update(items, [{"i": 2}, {"s": "x"}, {"i": 9}]) == 2  # c is gone
    assert q.update_many({"i": {"$gte": 1}}, {"b": True}) == 2
    assert [(d.key, d.i, d.s, d.b) for d in q.find_all(paginate=False)] == [("a", 2, None, True), ("b", 1, "x", True)]


@pytest.mark.timeout(120)
def test_updates_past_the_servers_bulk_write_limit(mdb):
    """FerretDB never answers a bulk_write of 100+ updates: split by features.bulk_write_limit."""
    q = mdb.query(Doc)
    q.bulk_insert({"key": f"k{i:03d}", "i": i} for i in range(250))
    assert q.bulk_insert(({"key": f"k{i:03d}", "s": "up"} for i in range(250)), on_conflict="update") == 250
    items = list(q.find_all(paginate=False))
    assert q.bulk_update(items, [{"i": -1}] * len(items)) == 250
    assert q.count({"s": "up", "i": -1}) == 250


def test_split_bulk_write_reports_failures_by_row(mdb):
    mdb.features.bulk_write_limit = 3  # this connection only
    q = mdb.query(User)
    q.insert({"email": "taken@x"})
    ids = [ObjectId() for _ in range(7)]
    rows = [{"_id": oid, "email": f"u{i}@x"} for i, oid in enumerate(ids)]
    rows[5]["email"] = "taken@x"  # the third operation of the second bulk_write
    # Straight to run_ops: bulk_insert finds this clash before writing anything.
    ops = [("update", {"_id": r["_id"]}, {"$set": {"email": r["email"]}}, True) for r in rows]
    with pytest.raises(mongo_errors.BulkWriteError) as info:
        bulk.run_ops(mdb, q.collection, ops)
    assert [e["index"] for e in info.value.details["writeErrors"]] == [5]
    assert q.count() == 6  # the third bulk_write is not sent


def test_update_mode_failure_names_the_row(mdb):
    """An update moving a row onto another row's unique value fails before anything is written."""
    q = mdb.query(User)
    q.insert({"email": "taken@x"})
    a, b, c = ObjectId(), ObjectId(), ObjectId()
    rows = [{"_id": a, "email": "a@x"}, {"email": "loose@x"}, {"_id": b, "email": "taken@x"}]
    rows.append({"_id": c, "email": "c@x"})
    with pytest.raises(db_plugins.BulkDuplicateKeyError, match="email='taken@x'") as info:
        q.bulk_insert(rows, on_conflict="update", conflict_on="_id")
    assert info.value.failed_keys == [b] and info.value.written == 0
    assert sorted(u.email for u in q.find_all(paginate=False)) == ["taken@x"]


def test_a_failed_update_in_a_bulk_write_is_named_by_its_index(mdb):
    """On FerretDB this failure comes back in a reply pymongo cannot parse: the chunk is replayed."""
    q = mdb.query(User)
    q.insert({"email": "taken@x"})
    ops = [("update", {"_id": ObjectId()}, {"$set": {"email": e}}, True) for e in ("a@x", "taken@x", "c@x")]
    with pytest.raises(mongo_errors.BulkWriteError) as info:
        bulk.run_ops(mdb, q.collection, ops)
    assert [e["index"] for e in info.value.details["writeErrors"]] == [1]
    assert sorted(u.email for u in q.find_all(paginate=False)) == ["a@x", "c@x", "taken@x"]


def test_delete_in_chunks(mdb):
    """FerretDB deletes in chunks (features.delete_chunk); the same loop runs here on a small chunk."""
    q = mdb.query(Doc)
    q.bulk_insert({"key": f"k{i:03d}", "i": i} for i in range(40))
    mdb.features.delete_chunk = 7
    assert q.delete({"i": {"$gte": 5}}) == 35
    assert q.count() == 5


def test_decimal_follows_the_server(mdb):
    q = mdb.query(Price)
    if mdb.features.decimal128:
        stored = q.insert({"sku": "p", "amount": decimal.Decimal("1.10")})
        assert stored.amount == decimal.Decimal("1.10")
        assert q.collection.find_one({"_id": "p"})["amount"] == Decimal128("1.10")
        assert q.count({"amount": decimal.Decimal("1.10")}) == 1
        if mdb.features.name == "mongodb":  # mongomock cannot compare Decimal128 with other numbers
            assert q.count({"amount": {"$gt": 1}}) == 1
    else:
        # FerretDB 1.x drops the connection on Decimal128: refused up front instead.
        with pytest.raises(db_plugins.UnsupportedOperation, match="'amount' of Price holds a Decimal"):
            q.insert({"sku": "p", "amount": decimal.Decimal("1.10")})
        assert q.insert({"sku": "q"}).amount is None
        assert q.count() == 1


def test_a_filter_pinning_a_unique_key_is_sent_without_a_sort(mdb, monkeypatch):
    """At most one document matches, so no order is asked of the server (a sort can cost it the index)."""
    users = mdb.query(User)
    users.bulk_insert([{"email": f"u{i}@x", "name": "same"} for i in range(3)])
    sorts = []
    real = users.collection.find

    def find(*args, **kwargs):
        sorts.append(kwargs.get("sort"))
        return real(*args, **kwargs)

    monkeypatch.setattr(users.collection, "find", find)
    assert users.find_one({"email": "u1@x"}).email == "u1@x"
    assert users.get_or_create({"email": "u2@x", "name": "same"})[0].email == "u2@x"
    assert users.find_one({"$and": [{"email": {"$eq": "u0@x"}}, {"name": "same"}]}).email == "u0@x"
    assert sorts == [None, None, None]
    # Not pinned to one value: the order (key order by default) is kept.
    assert [u.email for u in users.find_all({"name": "same"}, order_by="-email", paginate=False)] == [
        "u2@x",
        "u1@x",
        "u0@x",
    ]
    assert users.find_one({"email": {"$in": ["u0@x", "u1@x"]}}, order_by="-email").email == "u1@x"
    assert users.find_one({"email": None}) is None
    assert None not in sorts[3:] and len(sorts) == 6


def test_get_or_create_upserts_on_a_unique_index(mdb):
    q = mdb.query(User)

    def call(i):
        return q.get_or_create({"email": "hot@x"}, name=f"n{i}")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(8)))
    assert sum(created for _, created in results) == 1
    assert len({user._id for user, _ in results}) == 1
    assert q.count() == 1
    assert mdb.database[LOCKS_COLLECTION].count_documents({}) == 0


def test_get_or_create_lock_name_ignores_filter_key_order(mdb):
    from db_plugins.db.mongo.query import _canonical

    q = mdb.query(Note)
    one = _canonical(q.parse_filter({"text": "x", "n": {"$gte": 1, "$lt": 3}}))
    assert one == _canonical(q.parse_filter({"n": {"$lt": 3, "$gte": 1}, "text": "x"}))
    assert one != _canonical(q.parse_filter({"text": "x", "n": {"$gte": 1, "$lt": 4}}))
    first, created = q.get_or_create({"text": "x", "n": 1})
    again, created_again = q.get_or_create({"n": 1, "text": "x"})
    assert (created, created_again) == (True, False) and again._id == first._id
    assert q.count() == 1


def test_lock_excludes_other_holders(mdb):
    counter = mdb.database["counter"]
    counter.insert_one({"_id": 1, "n": 0})

    def bump(_):
        with document_lock(mdb, "test:bump"):
            n = counter.find_one({"_id": 1})["n"]
            time.sleep(0.005)  # a lost update if two held the lock at once
            counter.update_one({"_id": 1}, {"$set": {"n": n + 1}})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(bump, range(16)))
    assert counter.find_one({"_id": 1})["n"] == 16
    assert mdb.database[LOCKS_COLLECTION].count_documents({}) == 0
    mdb.database.drop_collection("counter")


def test_lock_times_out_while_held_and_expires_after_ttl(mdb):
    held = threading.Event()
    release = threading.Event()

    def holder():
        with document_lock(mdb, "test:ttl", ttl=1.0):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        held.wait(5)
        with pytest.raises(TimeoutError, match="test:ttl"):
            with document_lock(mdb, "test:ttl", timeout=0.2):
                pass
        # The holder is presumed dead after its ttl: a waiter takes the lock over.
        started = time.monotonic()
        with document_lock(mdb, "test:ttl", timeout=5) as owner:
            assert time.monotonic() - started < 3
            assert mdb.database[LOCKS_COLLECTION].find_one({"_id": "test:ttl"})["owner"] == owner
    finally:
        release.set()
        thread.join()
    # The late holder's release does not remove a lock it no longer owns (none is left here).
    assert mdb.database[LOCKS_COLLECTION].count_documents({}) == 0


def test_get_or_create_takes_over_a_crashed_holders_lock(mdb):
    from db_plugins.db.mongo.locks import lock_id
    from db_plugins.db.mongo.query import _canonical

    q = mdb.query(Note)
    name = lock_id("get_or_create", "notes", _canonical(q.parse_filter({"text": "t"})))
    stale = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1)
    mdb.database[LOCKS_COLLECTION].insert_one({"_id": name, "owner": "crashed", "expires": stale})
    started = time.monotonic()
    _, created = q.get_or_create({"text": "t"})
    assert created and time.monotonic() - started < 2
    assert mdb.database[LOCKS_COLLECTION].count_documents({}) == 0


def test_an_upsert_that_loses_a_race_is_run_again(mdb, monkeypatch):
    """Another writer inserts the same key between an upsert's match and its insert: the
    upsert meets a duplicate key, and is run again (it then updates that document), as
    MongoDB does on its own and FerretDB does not. Anything else still fails."""
    mdb.features.bulk_write_limit = 2  # this connection only: the race in the first call, one call left unrun
    q = mdb.query(Doc)
    real = bulk.run_ops
    calls = []

    def racing(connection, collection, ops):
        calls.append([op[1] for op in ops])
        if len(calls) == 1:  # the other writer's insert lands first
            collection.insert_one({"_id": "k1", "i": -1})
            errors = [{"index": 1, "code": 11000, "errmsg": "E11000 duplicate key"}]
            real(connection, collection, ops[:1])
            raise mongo_errors.BulkWriteError({"nUpserted": 1, "writeErrors": errors, "writeConcernErrors": []})
        return real(connection, collection, ops)

    monkeypatch.setattr(bulk, "run_ops", racing)
    rows = [{"key": f"k{i}", "i": i} for i in range(4)]
    assert q.bulk_insert(rows, on_conflict="update") == 4
    assert calls[1] == [{"_id": "k1"}, {"_id": "k2"}, {"_id": "k3"}]  # the loser and the unrun call
    assert sorted((d.key, d.i) for d in q.find_all(paginate=False)) == [("k0", 0), ("k1", 1), ("k2", 2), ("k3", 3)]

    def always(connection, collection, ops):
        errors = [{"index": 0, "code": 11000, "errmsg": "E11000 duplicate key"}]
        raise mongo_errors.BulkWriteError({"writeErrors": errors, "writeConcernErrors": []})

    monkeypatch.setattr(bulk, "run_ops", always)
    with pytest.raises(db_plugins.BulkDuplicateKeyError):
        q.bulk_insert([{"key": "k9", "i": 9}], on_conflict="update")
