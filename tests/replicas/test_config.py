"""REPLICAS settings refused in one line, and MongoDB's replica-set options passed to pymongo as given."""

from __future__ import annotations

from typing import Any

import pymongo
import pytest
from pymongo.read_concern import ReadConcern

import db_plugins
from db_plugins.db.mongo import features as mongo_features
from db_plugins.db.sql.config import validate_sql_section
from tests.servers import fresh_database

PG = "postgresql://u:s3cret@primary:5432/app"


def test_replicas_are_sections_of_their_own_checked_against_the_primary() -> None:
    config = validate_sql_section(
        "SQL",
        {
            "URL": PG,
            "ENGINE_OPTIONS": {"pool_size": 3},
            "REPLICAS": ["postgresql://u:s3cret@standby1/app", {"URL": "postgresql://u:pw2@standby2/app"}],
            "MAX_REPLICA_LAG": 2,
        },
    )
    one, two = config.replicas
    assert (one.sa_url.host, two.sa_url.host) == ("standby1", "standby2")
    assert one.sa_url.drivername == "postgresql+psycopg2"  # the default driver, as for the primary
    assert one.engine_options == two.engine_options == {"pool_size": 3}  # inherited unless given
    assert config.max_replica_lag == 2.0
    assert validate_sql_section("SQL", {"URL": PG}).replicas == []


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"REPLICAS": ["mysql+pymysql://u:p@standby/app"]}, "a mysql replica of a postgresql primary"),
        ({"REPLICAS": ["postgresql://u:p@standby/other"]}, "database 'other' is not the primary's 'app'"),
        ({"REPLICAS": "postgresql://u:p@standby/app"}, "['REPLICAS']: expected list or tuple, got str"),
        ({"REPLICAS": [42]}, "DB_CONFIG['SQL.REPLICAS[0]']: expected a URL or a dict, got int"),
        ({"REPLICAS": ["not a url"]}, "DB_CONFIG['SQL.REPLICAS[0]']['URL']: not a valid SQLAlchemy URL"),
        ({"REPLICAS": [{"URL": PG, "REPLICAS": []}]}, "a replica has no REPLICAS or MAX_REPLICA_LAG of its own"),
        ({"MAX_REPLICA_LAG": -1}, "['MAX_REPLICA_LAG']: expected seconds >= 0, got -1"),
        ({"MAX_REPLICA_LAG": "5"}, "['MAX_REPLICA_LAG']: expected an integer or a number, got str"),
    ],
)
def test_a_replica_that_cannot_serve_the_primary_s_data_is_refused(section: dict[str, Any], message: str) -> None:
    with pytest.raises(db_plugins.ConfigError) as caught:
        validate_sql_section("SQL", {"URL": PG, **section})
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_sqlite_has_no_replicas(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    with pytest.raises(db_plugins.ConfigError, match=r"\['REPLICAS'\]: sqlite has no replicas"):
        db_plugins.connect({"URL": url, "REPLICAS": [url]})


def test_without_replicas_there_is_nothing_to_report_and_primary_pins_harmlessly(tmp_path: Any) -> None:
    with db_plugins.connect({"URL": f"sqlite:///{tmp_path / 'a.db'}"}) as db:
        assert db.replica_status() == [] and db.replicas is None
        assert not db.pinned
        with db.primary():
            with db.primary():
                assert db.pinned
            assert db.pinned
        assert not db.pinned


# -- MongoDB: the client's own replica-set machinery, configured through the URL or keys --------


def _no_detect(monkeypatch: Any) -> None:
    # FerretDB is no replica set: a replicaSet= client would wait for a primary it never finds.
    monkeypatch.setattr(mongo_features.MongoFeatures, "detect", lambda self, client: None)


def test_replica_set_url_options_reach_the_client_untouched(monkeypatch: Any) -> None:
    _no_detect(monkeypatch)
    url = (
        "mongodb://h1:27017,h2:27017,h3:27017/app?replicaSet=rs0&readPreference=secondaryPreferred"
        "&maxStalenessSeconds=120&readConcernLevel=majority&w=majority&wtimeoutMS=2500&journal=true"
    )
    with db_plugins.connect({"URL": url}) as db:
        client = db.client
        assert client.options.replica_set_name == "rs0"
        assert client.read_preference.mongos_mode == "secondaryPreferred"
        assert client.read_preference.max_staleness == 120
        assert client.read_concern == ReadConcern("majority")
        assert client.write_concern.document == {"w": "majority", "wtimeout": 2500, "j": True}
        assert db.database.read_preference == client.read_preference


def test_replica_set_options_as_keys_reach_the_client(monkeypatch: Any) -> None:
    _no_detect(monkeypatch)
    section = {
        "URL": "mongodb://h1,h2/app",
        "REPLICA_SET": "rs0",
        "READ_PREFERENCE": "nearest",
        "READ_CONCERN_LEVEL": "local",
        "W": 2,
    }
    with db_plugins.connect(section) as db:
        assert db.client.options.replica_set_name == "rs0"
        assert db.client.read_preference == pymongo.ReadPreference.NEAREST
        assert db.client.read_concern == ReadConcern("local")
        assert db.client.write_concern.document == {"w": 2}


@pytest.mark.parametrize("engine", ["mongodb", "mongomock"])
def test_mongo_primary_pins_reads_and_the_read_preference_serves_reads(engine: str, tmp_path: Any) -> None:
    from tests.mongo.models import Doc

    with fresh_database(engine, tmp_path) as url:
        if engine == "mongodb":
            url += ("&" if "?" in url else "?") + "readPreference=secondaryPreferred"
        with db_plugins.connect({"URL": url, "MODELS": "tests.mongo.models"}) as db:
            q = db.query(Doc)
            q.insert({"key": "a", "s": "x"})
            assert q.find_one({"key": "a"}) is not None  # served under the configured preference
            reads = lambda: db.executor.reads(Doc.__tablename__)  # noqa: E731 - the collection reads use
            if engine == "mongodb":
                assert reads().read_preference == pymongo.ReadPreference.SECONDARY_PREFERRED
            with db.primary():
                assert reads().read_preference == pymongo.ReadPreference.PRIMARY
                assert q.find_one({"key": "a"}) is not None and q.count() == 1
            assert reads() is q.collection
            assert db.replica_status() == []
