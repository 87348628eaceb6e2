"""The MONGO section: URL and seed forms, client options, masking, plugin inference (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

import db_plugins
from db_plugins.db.generic import new_DBConnection
from db_plugins.db.mongo import MongoConnection, MongoDatabaseCreator
from db_plugins.db.mongo.config import validate_mongo_section
from db_plugins.registry import resolve_config

SECRET = "s3cr#t-pw"


def test_database_from_the_url_path_or_the_key():
    config = validate_mongo_section("MONGO", {"URL": "mongodb://localhost:27017/app"})
    assert (config.database, config.plugin) == ("app", "MONGO")
    # DATABASE wins: the path may name the authentication database instead.
    config = validate_mongo_section("MONGO", {"URL": "mongodb://u:p@localhost/admin", "DATABASE": "app"})
    assert config.database == "app"


def test_seed_form_builds_a_url():
    section = {"HOST": "db.example", "USERNAME": "al ice", "PASSWORD": SECRET, "PORT": 27018, "DATABASE": "app"}
    config = validate_mongo_section("MONGO", section)
    assert config.url == "mongodb://al+ice:s3cr%23t-pw@db.example:27018/"
    assert config.database == "app" and config.password == SECRET
    assert validate_mongo_section("MONGO", {"HOST": "h", "DATABASE": "d"}).url == "mongodb://h:27017/"


def test_extra_keys_are_client_options():
    config = validate_mongo_section(
        "MONGO",
        {"URL": "mongodb://h/app", "AUTH_SOURCE": "admin", "SERVER_SELECTION_TIMEOUT_MS": 250, "TZ_AWARE": True},
    )
    assert config.options == {"authsource": "admin", "serverselectiontimeoutms": 250, "tz_aware": True}


@pytest.mark.parametrize(
    "section,message",
    [
        ({"URL": "mongodb://h/app", "AUTH_SORCE": "admin"}, r"DB_CONFIG\['MONGO'\]: unknown key 'AUTH_SORCE'"),
        ({"URL": "mongodb://h/app", "authSource": "admin"}, r"unknown key 'authSource'.*UPPER_SNAKE_CASE"),
        ({"URL": "mongodb://h/app", "TZ_AWARE": "maybe"}, r"DB_CONFIG\['MONGO'\]\['TZ_AWARE'\]: .*tz_aware"),
        ({"URL": "mongodb://h/app", "HOST": "h"}, r"either URL or HOST.*'HOST'"),
        ({"URL": "mongodb://h"}, r"no database: give DATABASE"),
        ({"URL": "mongodb://h/a.b"}, r"\['URL'\]: 'a.b' is not a valid MongoDB database name"),
        ({"URL": "mongodb://h", "DATABASE": "a b"}, r"\['DATABASE'\]: 'a b' is not a valid"),
        ({"URL": "postgresql://h/app"}, r"\['URL'\]: expected a mongodb://"),
        ({"URL": "mongodb://h:notaport/app"}, r"\['URL'\]: not a valid MongoDB URL"),
        ({"URL": 5}, r"\['URL'\]: expected a string"),
        ({"HOST": "h"}, r"missing key 'DATABASE'"),
        ({"HOST": "h", "DATABASE": "d", "PORT": "27017"}, r"\['PORT'\]: expected an integer"),
        ({"HOST": "h", "DATABASE": "d", "PORT": 70000}, r"\['PORT'\]: expected a port number"),
        ({"HOST": "mongodb://h", "DATABASE": "d"}, r"\['HOST'\]: expected a host name"),
        ({"HOST": "h", "DATABASE": "d", "PASSWORD": SECRET}, r"PASSWORD given without USERNAME"),
    ],
)
def test_bad_sections_name_section_and_key(section, message):
    with pytest.raises(db_plugins.ConfigError, match=message) as info:
        validate_mongo_section("MONGO", section)
    assert SECRET not in str(info.value)


def test_password_never_shown():
    url = f"mongodb://user:{SECRET.replace('#', '%23')}@localhost:1/app"
    config = validate_mongo_section("MONGO", {"URL": url})
    assert config.password == SECRET
    for text in (repr(config), config.masked_url, str(config)):
        assert SECRET not in text and "s3cr%23t-pw" not in text and "***" in text
    seed = validate_mongo_section("MONGO", {"HOST": "h", "USERNAME": "u", "PASSWORD": SECRET, "DATABASE": "d"})
    assert SECRET not in repr(seed) and "s3cr%23t-pw" not in seed.masked_url
    with pytest.raises(db_plugins.ConfigError) as info:
        validate_mongo_section("MONGO", {"HOST": "h", "USERNAME": "u", "PASSWORD": SECRET, "DATABASE": "d", "X": 1})
    assert SECRET not in str(info.value)


def test_migrations_dir_defaults_under_the_settings_dir(tmp_path: Path):
    config = validate_mongo_section("MONGO", {"URL": "mongomock://localhost/app"}, base_dir=tmp_path)
    assert config.migrations_dir == tmp_path.resolve() / "migrations" / "mongo"
    config = validate_mongo_section(
        "MONGO", {"URL": "mongomock://localhost/app", "MIGRATIONS_DIR": "/abs/m", "MODELS": "my.models"}
    )
    assert config.migrations_dir == Path("/abs/m") and config.models == "my.models"


@pytest.mark.parametrize(
    "given",
    [
        "mongodb://localhost:27017/app",
        "mongodb+srv://cluster.example/app",
        "mongomock://localhost/app",
        {"HOST": "h", "DATABASE": "app"},
        {"HOST": "h", "USERNAME": "u", "PASSWORD": "pw1", "PORT": 1, "DATABASE": "app"},
    ],
)
def test_plugin_is_inferred(given):
    assert resolve_config(given).plugin == "MONGO"


def test_connect_shorthand_and_seed_creator():
    with db_plugins.connect("mongomock://localhost/app_cfg") as db:
        assert isinstance(db, MongoConnection)
        assert db.database.name == "app_cfg" and db.features.name == "mongomock"
    db = new_DBConnection(MongoDatabaseCreator)
    assert isinstance(db, MongoConnection) and "not connected" in repr(db)
    db.connect({"URL": "mongomock://localhost", "DATABASE": "app_cfg"})
    try:
        assert db.database.name == "app_cfg"
    finally:
        db.close()
