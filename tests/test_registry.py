"""Plugin discovery, connect() inference, and the seed-compatible names."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

import db_plugins
from db_plugins.registry import ENTRY_POINT_GROUP, Plugin, available_plugins, get_plugin, register_plugin


def test_builtin_plugins_register_through_entry_points():
    names = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert names["SQL"] == "db_plugins.db.sql.plugin:SQLPlugin"
    assert names["MONGO"] == "db_plugins.db.mongo.plugin:MongoPlugin"
    assert {"SQL", "MONGO"} <= set(available_plugins())
    assert get_plugin("SQL").name == "SQL"


def test_connect_infers_sql_from_url_and_section(tmp_path):
    with db_plugins.connect(f"sqlite:///{tmp_path / 'a.db'}") as db:
        assert type(db).__name__ == "SQLConnection"
    with db_plugins.connect({"URL": "sqlite://"}) as db:
        assert db.features.name == "sqlite"
    with db_plugins.connect({"SQLALCHEMY_DATABASE_URL": "sqlite://"}, plugin="SQL") as db:
        assert db.engine.url.get_backend_name() == "sqlite"


def test_connect_asks_for_plugin_when_it_cannot_tell():
    with pytest.raises(db_plugins.ConfigError, match='plugin="MONGO"\\|"SQL"'):
        db_plugins.connect({"MODELS": "x"})
    with pytest.raises(db_plugins.ConfigError, match="no plugin serves URL"):
        db_plugins.connect("nosuchscheme://host/db")
    with pytest.raises(db_plugins.ConfigError, match="expected a URL or a DB_CONFIG section"):
        db_plugins.connect(42)


def test_third_party_plugin(tmp_path):
    from db_plugins.db.sql.plugin import SQLPlugin

    class EchoPlugin(SQLPlugin):
        name = "ECHO"

        def claims_url(self, url):
            return url.startswith("echo://")

        def claims_section(self, section):
            return False

        def validate(self, section_name, section, base_dir=None):
            return super().validate(section_name, {"URL": "sqlite://"}, base_dir)

    register_plugin("ECHO", EchoPlugin)
    try:
        with db_plugins.connect("echo://anything") as db:
            assert db.features.name == "sqlite"
    finally:
        from db_plugins import registry

        registry._registered.pop("ECHO", None)
        registry._instances.pop("ECHO", None)
    assert issubclass(EchoPlugin, Plugin)


def test_seed_names(tmp_path):
    from db_plugins.db.generic import BaseQuery, DatabaseConnection, Pagination, new_DBConnection
    from db_plugins.db.sql import SQLConnection, SQLDatabaseCreator

    db = new_DBConnection(SQLDatabaseCreator)
    assert isinstance(db, SQLConnection) and isinstance(db, DatabaseConnection)
    db.connect({"URL": f"sqlite:///{tmp_path / 'x.db'}"})
    from db_plugins.db.sql import Base

    assert isinstance(db.query(type("M", (Base,), {"__tablename__": "m", **_pk()})), BaseQuery)
    assert Pagination is db_plugins.Pagination
    db.close()


def _pk():
    from sqlalchemy import Integer
    from sqlalchemy.orm import mapped_column

    return {"id": mapped_column(Integer, primary_key=True)}


def test_version_is_exposed():
    assert db_plugins.__version__.count(".") >= 2
