"""The pytest plugin (db_plugins.testing) in a user's suite, run by pytester on every engine."""

from __future__ import annotations

import json
import secrets
import textwrap
from pathlib import Path

import pytest

from db_plugins import commands
from db_plugins.config import settings_from_dict
from tests.servers import ENGINES, SQL_ENGINES, base_url

pytest_plugins = ["pytester"]

# What the inner runs import stays imported: pytester forgets modules first imported during a
# test, and SQLAlchemy warns when a dialect registers its functions a second time.
import alembic.command  # noqa: E402, F401
import sqlalchemy.dialects.mysql  # noqa: E402
import sqlalchemy.dialects.postgresql  # noqa: E402, F401

import db_plugins.db.mongo.migrations  # noqa: E402
import db_plugins.db.sql.migrations  # noqa: E402, F401

SQL_MODELS = """
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "item"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20), unique=True)
"""

MONGO_MODELS = """
from db_plugins.db.mongo import BaseModel, Field


class Item(BaseModel):
    __tablename__ = "item"
    __indexes__ = [{"keys": [("name", 1)], "unique": True}]

    name = Field(str, required=True)
"""

USER_TESTS = """
import json
import os

from {models} import Item

SECTION = {section!r}


def test_writes(dbp_db):
    items = dbp_db.query(Item)
    items.insert({{"name": "a"}})
    items.bulk_insert([{{"name": "b"}}, {{"name": "c"}}])
    assert items.count() == 3


def test_sees_nothing_of_the_test_before(dbp_db):
    assert dbp_db.query(Item).count() == 0
    dbp_db.query(Item).insert({{"name": "a"}})  # no DuplicateKeyError: the first test's row is gone


def test_a_throw_away_database(dbp_settings, dbp_connection):
    config = dbp_settings.section(SECTION)
    assert config is dbp_connection.config or config.url == dbp_connection.config.url
    with open(os.environ["WHERE"], "w") as out:
        json.dump({{"url": config.url, "database": getattr(config, "database", None)}}, out)
"""


def models_source(engine: str) -> str:
    return SQL_MODELS if engine in SQL_ENGINES else MONGO_MODELS


def section(engine: str, models: str, database: str = "app") -> dict:
    """A user's DB_CONFIG section on ``engine`` (its server's URL from DBP_TEST_*)."""
    if engine == "sqlite":
        return {"URL": f"sqlite:///{database}.db", "MODELS": f"{models}:Base"}
    if engine == "mongomock":
        return {"URL": f"mongomock://localhost/{database}", "MODELS": models}
    url = base_url(engine)
    if engine == "mongodb":
        return {"URL": url, "DATABASE": database, "MODELS": models}
    return {"URL": url, "MODELS": f"{models}:Base"}


def write_project(pytester: pytest.Pytester, engine: str) -> tuple[str, str]:
    models = "models_" + secrets.token_hex(4)
    name = "SQL" if engine in SQL_ENGINES else "MONGO"
    pytester.makepyfile(**{models: models_source(engine)})
    config = {name: section(engine, models)}
    pytester.makepyfile(settings=f"DB_CONFIG = {config!r}\n")
    return models, name


def server_databases(engine: str) -> set[str]:
    if engine == "mongodb":
        import pymongo

        client = pymongo.MongoClient(base_url(engine), serverSelectionTimeoutMS=5000)
        try:
            return set(client.list_database_names())
        finally:
            client.close()
    import sqlalchemy as sa

    engine_ = sa.create_engine(base_url(engine))
    try:
        with engine_.connect() as connection:
            return set(sa.inspect(connection).get_schema_names())
    finally:
        engine_.dispose()


@pytest.mark.parametrize("engine", ENGINES)
def test_each_test_starts_clean_on_a_throw_away_database(
    pytester: pytest.Pytester, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    models, name = write_project(pytester, engine)
    pytester.makepyfile(test_user=USER_TESTS.format(models=models, section=name))
    where = pytester.path / "where.json"
    monkeypatch.setenv("WHERE", str(where))
    result = pytester.runpytest("-p", "no:cacheprovider", "--dbp-settings", "settings.py")
    result.assert_outcomes(passed=3)

    used = json.loads(where.read_text())
    if engine == "sqlite":  # a file in pytest's temporary directory, not the project's app.db
        assert "/test_app_" in used["url"] and not (pytester.path / "app.db").exists()
    elif engine in ("mongodb", "mongomock"):
        assert used["database"].startswith("test_app_")
    else:
        database = used["url"].rsplit("/", 1)[1].split("?")[0]
        assert database.startswith("test_")
    if engine in ("postgresql", "mysql", "mongodb"):
        dropped = used["database"] or used["url"].rsplit("/", 1)[1].split("?")[0]
        assert dropped not in server_databases(engine)


MIGRATED_TESTS = """
from {models} import Item


def test_on_the_migrated_schema(dbp_migrate, dbp_db):
    assert dbp_migrate == {{{section!r}: [{revision!r}]}}
    dbp_db.query(Item).insert({{"name": "a"}})
    assert dbp_db.query(Item).count() == 1


def test_rolled_back(dbp_db):
    assert dbp_db.query(Item).count() == 0
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_the_schema_made_by_dbp_migrate(pytester: pytest.Pytester, engine: str, tmp_path: Path) -> None:
    models, name = write_project(pytester, engine)
    # The user's committed migrations: an initial revision written by dbp initdb on a scratch database.
    scratch = {name: {**section("sqlite" if name == "SQL" else "mongomock", models, "scratch_" + secrets.token_hex(4))}}
    settings = settings_from_dict(scratch, base_dir=pytester.path)
    commands.initdb(settings, echo=lambda line: None)
    directory = settings.section(name).migrations_dir
    versions = directory / "versions" if name == "SQL" else directory
    [revision] = [p.name.split("_", 1)[0] for p in versions.glob("*_initial_schema.py")]
    pytester.makepyfile(test_user=MIGRATED_TESTS.format(models=models, section=name, revision=revision))
    pytester.makeini("[pytest]\ndbp_migrate = true\ndbp_settings = settings.py\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_db_config_overridden_in_conftest(pytester: pytest.Pytester) -> None:
    models = "models_" + secrets.token_hex(4)
    pytester.makepyfile(**{models: SQL_MODELS})
    pytester.makeconftest(
        textwrap.dedent(
            f"""
            import pytest

            @pytest.fixture(scope="session")
            def dbp_db_config():
                return {{"SQL": {{"URL": "sqlite:///given_in_code.db", "MODELS": "{models}:Base"}}}}
            """
        )
    )
    pytester.makepyfile(
        test_user=f"""
        from {models} import Item

        def test_it(dbp_db, dbp_settings):
            assert "test_given_in_code_" in dbp_settings.section("SQL").url
            assert dbp_db.query(Item).count() == 0
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
