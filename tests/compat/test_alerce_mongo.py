"""ALeRCE db-plugins 4.x's Mongo forms through db_plugins.compat.alerce.mongo, on FerretDB and mongomock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pymongo
import pytest
from pymongo import ASCENDING, IndexModel
from pymongo.results import BulkWriteResult, InsertManyResult, InsertOneResult, UpdateResult

import db_plugins
from db_plugins.compat.alerce import AlerceCompatWarning, NotConnectedError, new_DBConnection
from db_plugins.compat.alerce.mongo import (
    BaseModel,
    BaseModelWithExtraFields,
    CollectionNotFound,
    Field,
    MissingFieldError,
    ModelMetaClass,
    MongoConnection,
    MongoDatabaseCreator,
    MongoQuery,
    SpecialField,
    _MongoConfig,
)


class CObject(BaseModel):
    __tablename__ = "alerce_compat_object"
    __table_args__ = [IndexModel([("oid", ASCENDING)], name="oid")]
    _id = SpecialField(lambda **kw: kw.get("aid") or kw["_id"])
    oid = Field()
    ndet = Field()
    probabilities = SpecialField(lambda **kw: kw.get("probabilities", []))


class CDetection(BaseModelWithExtraFields):
    __tablename__ = "alerce_compat_detection"
    __table_args__ = [IndexModel([("aid", ASCENDING), ("mjd", ASCENDING)], name="aid_mjd", unique=True)]
    _id = SpecialField(lambda **kw: kw.get("candid") or kw["_id"])
    aid = Field()
    mjd = Field()


def config_for(url: str) -> dict[str, Any]:
    """The 4.x section for a test database: HOST/PORT keys for a server, a URL for mongomock."""
    parts = urlsplit(url)
    name = parts.path.strip("/")
    if parts.scheme == "mongomock":
        return {"URL": url, "DATABASE": name}
    return {"HOST": parts.hostname, "PORT": parts.port or 27017, "DATABASE": name, "SERVER_SELECTION_TIMEOUT_MS": 5000}


@pytest.fixture
def db(mongo_url: str) -> Iterator[MongoConnection]:
    db = MongoConnection()
    db.connect(config_for(mongo_url))
    yield db
    db.drop_db()
    db.close()


def objects(n: int) -> list[dict[str, Any]]:
    return [{"aid": f"A{i}", "oid": [f"ZTF{i}"], "ndet": i} for i in range(1, n + 1)]


def test_constructor_keeps_the_config_and_connect_opens_it(mongo_url: str) -> None:
    config = config_for(mongo_url)
    db = MongoConnection(config)
    assert db.client is None and db.database is None and db.config.db_name == config["DATABASE"]
    with pytest.warns(AlerceCompatWarning, match=r"db_plugins\.connect\(config\), which connects at once"):
        db.connect()
    try:
        assert db.database.name == config["DATABASE"]
        assert CObject.metadata.database == ModelMetaClass.metadata.database == config["DATABASE"]
        assert db.query(CObject).check_exists({}) is False
    finally:
        db.close()


def test_config_keys_go_to_mongoclient_as_4x_did() -> None:
    config = _MongoConfig({"HOST": "db.example", "DATABASE": "d", "AUTH_SOURCE": "admin", "SOME_OTHER_KEY": 1})
    assert (dict(config), config.db_name) == ({"host": "db.example", "authSource": "admin", "someOtherKey": 1}, "d")
    known = MongoConnection({"HOST": "localhost", "DATABASE": "d", "SERVER_SELECTION_TIMEOUT_MS": 1234}).connect(
        {"HOST": "localhost", "DATABASE": "d", "SERVER_SELECTION_TIMEOUT_MS": 1234}
    )
    assert known.client.options.server_selection_timeout == 1.234  # (no I/O: pymongo connects lazily)
    known.close()
    with pytest.raises(db_plugins.ConfigError, match=r"(?i)someotherkey") as info:
        MongoConnection().connect({"HOST": "localhost", "DATABASE": "d", "SOME_OTHER_KEY": 1})
    assert isinstance(info.value.__cause__, pymongo.errors.ConfigurationError)
    with pytest.raises(db_plugins.ConfigError, match="missing DATABASE"):
        _MongoConfig({"HOST": "localhost"})


def test_query_forms(db: MongoConnection, modern_only: None) -> None:
    query = db.query()
    assert (query.model, query.collection) == (None, None)
    with pytest.raises(CollectionNotFound, match="A valid model must be provided"):
        query.find_one({})
    assert isinstance(CollectionNotFound("x"), db_plugins.NotFoundError)
    query = db.query(CObject)
    assert (query.model, query.collection.name) == (CObject, "alerce_compat_object")
    assert repr(query) == "MongoQuery(model=CObject)"


def test_4x_only_query_forms_warn(db: MongoConnection) -> None:
    with pytest.warns(AlerceCompatWarning, match=r"db\.database\['raw'\]"):
        raw = db.query(name="raw")
    assert raw.model is None and raw.collection.name == "raw"
    with pytest.warns(AlerceCompatWarning, match=r"db\.query\(Model\)"):
        direct = MongoQuery(database=db.database, model=CObject)
    assert direct.collection.name == "alerce_compat_object"
    with pytest.warns(AlerceCompatWarning):
        assert MongoQuery(db.database, collection_name="raw").collection.name == "raw"
    with pytest.raises(ValueError, match="Only one of"), pytest.warns(AlerceCompatWarning):
        MongoQuery(db.database, model=CObject, name="raw")
    with pytest.warns(AlerceCompatWarning, match=r"db\.query\(CObject\)\.get_or_create"):
        db.query().get_or_create({"aid": "A1"}, model=CObject, oid=[], ndet=0)


def test_models_are_dicts_keyed_by_id_from_a_special_field() -> None:
    obj = CObject(aid="A1", oid=["ZTF1"], ndet=2, ignored="x")
    assert obj == {"_id": "A1", "oid": ["ZTF1"], "ndet": 2, "probabilities": []}
    assert CObject(_id="A2", oid=[], ndet=0)["_id"] == "A2"
    with pytest.raises(MissingFieldError, match="CObject model needs ndet attribute") as info:
        CObject(aid="A3", oid=[])
    assert isinstance(info.value, db_plugins.ValidationError) and isinstance(info.value, AttributeError)
    detection = CDetection(candid="c1", aid="A1", mjd=1.5, magpsf=18.0)
    assert detection == {"_id": "c1", "aid": "A1", "mjd": 1.5, "extra_fields": {"candid": "c1", "magpsf": 18.0}}
    assert CObject._meta.tablename == "alerce_compat_object"


def test_get_or_create_returns_4x_shapes(db: MongoConnection, modern_only: None) -> None:
    query = db.query(CObject)
    result, created = query.get_or_create({"aid": "A1"}, oid=["ZTF1"], ndet=1)
    assert created and isinstance(result, InsertOneResult) and result.inserted_id == "A1"
    found, created = query.get_or_create({"_id": "A1"})
    assert not created and found["_id"] == "A1" and found["ndet"] == 1


def test_paginate_forms(db: MongoConnection, modern_only: None) -> None:
    query = db.query(CObject)
    assert isinstance(query.bulk_insert(objects(5)), InsertManyResult)
    assert query.bulk_insert([]) is None
    page = query.paginate(filter_by={}, page=1, per_page=2)
    assert isinstance(page, db_plugins.Pagination)
    assert (len(page.items), page.total, page.has_next, page.next_num) == (2, 5, True, 2)
    last = page.next().next()
    assert (len(last.items), last.has_next) == (1, False)
    no_count = query.paginate(filter_by={"ndet": {"$gte": 2}}, page=2, per_page=2, count=False)
    assert (no_count.total, no_count.has_next, len(no_count.items)) == (None, False, 2)
    pipeline = [{"$match": {}}, {"$sort": {"ndet": -1}}]
    assert [o["ndet"] for o in query.paginate(filter_by=pipeline, per_page=2).items] == [5, 4]
    capped = query.paginate(per_page=2, max_results=3)
    assert (capped.total, capped.total_capped) == (3, True)
    assert query.find_all({"ndet": 3}).total == 1
    assert [o["_id"] for o in query.find_all({"ndet": {"$lt": 3}}, paginate=False)] == ["A1", "A2"]
    assert pipeline == [{"$match": {}}, {"$sort": {"ndet": -1}}]  # not appended to


def test_positional_paginate_is_the_4x_order_and_warns(db: MongoConnection) -> None:
    query = db.query(CObject)
    query.bulk_insert(objects(3))
    with pytest.warns(AlerceCompatWarning, match=r"paginate\(filter_by=\.\.\., page=\.\.\., per_page=\.\.\.\)"):
        page = query.paginate({"ndet": {"$gte": 2}}, 1, 1)
    assert (page.total, page.per_page, page.has_next, page.items[0]["ndet"]) == (2, 1, True, 2)
    with pytest.raises(TypeError, match="at most 5"), pytest.warns(AlerceCompatWarning):
        query.paginate({}, 1, 1, True, 10, "extra")


def test_update_bulk_update_and_filter_fields(db: MongoConnection) -> None:
    query = db.query(CObject)
    one, two = (CObject(**row) for row in objects(2))
    query.bulk_insert([dict(one), dict(two)])
    result = query.update(one, {"ndet": 10})
    assert isinstance(result, UpdateResult) and result.matched_count == 1
    one["ndet"] = 10
    result = query.bulk_update([one, two], [{"oid": ["x1"]}, {"oid": ["x2"]}])
    assert isinstance(result, BulkWriteResult) and result.matched_count == 2
    assert query.find_one({"oid": ["x2"]})["_id"] == "A2"
    with pytest.warns(AlerceCompatWarning, match="update_many"):
        query.bulk_update([two], [{"ndet": 7}], filter_fields=[{"_id": "A2"}])
    assert query.find_one({"_id": "A2"})["ndet"] == 7 and query.check_exists({"ndet": 7})
    with pytest.raises(TypeError, match="All instances"):
        query.bulk_update([one, CDetection(candid="c", aid="A1", mjd=1)], [{}, {}])
    with pytest.raises(ValueError, match="Length of instances and attributes must match"):
        query.bulk_update([one, two], [{}])
    with pytest.raises(ValueError, match="Length of filter_fields"), pytest.warns(AlerceCompatWarning):
        query.bulk_update([one, two], [{}, {}], filter_fields=[{"_id": "A1"}])
    assert query.bulk_update([], []) is None


def test_errors_are_db_plugins_errors_with_the_cause(db: MongoConnection) -> None:
    db.create_db()
    query = db.query(CDetection)
    query.bulk_insert([{"candid": "c1", "aid": "A1", "mjd": 1.0}])
    with pytest.raises(db_plugins.BulkDuplicateKeyError) as info:
        query.bulk_insert([{"candid": "c2", "aid": "A1", "mjd": 1.0}, {"candid": "c3", "aid": "A1", "mjd": 2.0}])
    assert (info.value.written, info.value.failed_keys) == (0, ["c2"])  # ordered, as 4.x: c3 not tried
    assert isinstance(info.value.__cause__, pymongo.errors.BulkWriteError)
    query = db.query(CObject)
    query.get_or_create({"aid": "A1"}, oid=["ZTF1"], ndet=1)
    with pytest.raises(db_plugins.DuplicateKeyError) as one:
        query.get_or_create({"oid": ["ZTF2"]}, aid="A1", ndet=0)  # not found, but its _id exists
    assert isinstance(one.value.__cause__, pymongo.errors.PyMongoError)


def test_create_db_makes_every_model_and_drop_db_drops_the_database(db: MongoConnection) -> None:
    db.create_db()
    names = set(db.database.list_collection_names())
    assert {"alerce_compat_object", "alerce_compat_detection"} <= names
    assert "aid_mjd" in db.database["alerce_compat_detection"].index_information()
    db.database["stray"].insert_one({"x": 1})
    db.drop_db()
    assert db.database.name not in db.client.list_database_names()


def test_never_connected_says_so() -> None:
    db = new_DBConnection(MongoDatabaseCreator)
    assert isinstance(db, MongoConnection)
    for call in (db.create_db, db.drop_db, db.query):
        with pytest.raises(NotConnectedError, match="not connected"):
            call()
    with pytest.raises(db_plugins.ConfigError, match="no configuration"):
        db.connect()
    with pytest.raises(db_plugins.UnsupportedOperation, match=r"db_plugins\.connect"):
        db.transaction()
