"""MongoConnection on FerretDB and mongomock: features, unreachable servers, create/drop, transactions."""

from __future__ import annotations

import socket
import time

import pytest

import db_plugins
from tests.mongo.conftest import MODELS
from tests.mongo.models import Doc, Note, User

SECRET = "pw-s3cret-x"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def test_unreachable_server_raises_connection_error_quickly():
    url = f"mongodb://app:{SECRET}@127.0.0.1:{_closed_port()}/app"
    started = time.monotonic()
    with pytest.raises(db_plugins.ConnectionError) as info:
        db_plugins.connect(url)
    elapsed = time.monotonic() - started
    message = str(info.value)
    assert elapsed < 8, elapsed  # the default server-selection timeout is 5 s, not pymongo's 30
    assert SECRET not in message and "mongodb://app:***@127.0.0.1" in message
    assert "\n" not in message
    assert info.value.__cause__ is not None


def test_timeout_option_is_honoured():
    started = time.monotonic()
    with pytest.raises(db_plugins.ConnectionError):
        db_plugins.connect({"URL": f"mongodb://127.0.0.1:{_closed_port()}/app", "SERVER_SELECTION_TIMEOUT_MS": 300})
    assert time.monotonic() - started < 3


def test_features(mdb):
    features = mdb.features
    assert features.transactions is False and features.atomic_bulk is False
    if features.name == "mongodb":
        assert features.server == "ferretdb" and features.version >= (7,)
        assert features.decimal128 is False and features.delete_chunk is not None
    else:
        assert features.name == "mongomock" and features.in_process is True


def test_transaction_is_refused_before_anything_is_written(mdb):
    with pytest.raises(db_plugins.UnsupportedOperation, match=r"transaction: .*replica set"):
        with mdb.transaction():
            mdb.query(Doc).insert({"key": "never"})
    assert mdb.query(Doc).count() == 0


def test_create_db_makes_collections_and_indexes_idempotently(mdb):
    assert {"docs", "notes", "users", "prices", "tickets"} <= set(mdb.database.list_collection_names())
    indexes = mdb.database["docs"].index_information()
    assert list(indexes["i_1"]["key"]) == [("i", 1)]
    assert list(indexes["key_s"]["key"]) == [("_id", 1), ("s", -1)]  # the primary key field is _id
    assert mdb.database["users"].index_information()["email_unique"]["unique"] is True
    mdb.create_db()  # again: nothing to do, no error
    assert mdb.database["docs"].index_information().keys() == indexes.keys()


def test_drop_db_drops_the_models_collections(mongo_url):
    db = db_plugins.connect({"URL": mongo_url, "MODELS": MODELS})
    try:
        db.create_db()
        db.database["unrelated"].insert_one({"x": 1})
        db.drop_db()
        names = set(db.database.list_collection_names())
        assert not names & {"docs", "notes", "users"} and "unrelated" in names
    finally:
        db.database.drop_collection("unrelated")
        db.close()


def test_query_objects_are_cached_and_checked(mdb):
    assert mdb.query(Doc) is mdb.query(Doc)
    assert mdb.query(Doc).collection.name == "docs"
    with pytest.raises(db_plugins.ValidationError, match="not a Mongo model"):
        mdb.query(dict)


def test_close_and_connect_again(mongo_url):
    db = db_plugins.connect({"URL": mongo_url, "MODELS": MODELS})
    db.query(Note).insert({"text": "kept"})
    db.close()
    db.connect({"URL": mongo_url, "MODELS": MODELS})
    try:
        assert db.query(Note).count({"text": "kept"}) == 1
    finally:
        db.query(Note).delete(all=True)
        db.close()


def test_embedded_urls_share_data_per_host():
    with db_plugins.connect("mongomock://hostA/shared") as one, db_plugins.connect("mongomock://hostA/shared") as two:
        one.query(User).insert({"email": "a@x"})
        assert two.query(User).count() == 1
        with db_plugins.connect("mongomock://hostB/shared") as other:
            assert other.query(User).count() == 0
        one.database.client.drop_database("shared")
