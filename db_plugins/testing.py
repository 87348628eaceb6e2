"""A pytest plugin for your own test suite: throw-away databases, a clean slate per test.

Installed with the package (``pytest11`` entry point ``db_plugins``), it adds
these fixtures, all driven by your ``DB_CONFIG`` (see ``docs/testing.md``):

``dbp_db_config`` (session)
    The ``DB_CONFIG`` the tests start from: by default that of the settings file
    (``--dbp-settings PATH`` or the ``dbp_settings`` ini key, else
    ``$DBP_SETTINGS``, else ``./settings.py``). Override it in ``conftest.py``
    to give the configuration in code.
``dbp_settings`` (session)
    :class:`~db_plugins.config.Settings` of the same sections, each on a
    throw-away database made for this session and dropped at its end: a SQLite
    file in a temporary directory, a new database on the configured PostgreSQL
    or MariaDB server, a new Mongo database (``test_<name>_<random>``).
``dbp_migrate`` (session)
    Runs ``dbp migrate`` (:func:`db_plugins.commands.migrate`) once on those
    databases and returns what it applied.
``dbp_connection`` (session)
    A connection to one section's throw-away database (``--dbp-engine`` or the
    ``dbp_engine`` ini key; default the first section) whose schema is made
    once: by ``dbp_migrate`` when ``dbp_migrate = true`` is set (ini) or
    ``--dbp-migrate`` is given, else from the models (``create_db``).
``dbp_db`` (function)
    ``dbp_connection`` for one test: inside a transaction rolled back at the
    test's end where the engine has transactions (``features.transactions``),
    else with every model's table or collection emptied at its end.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import db_plugins

from . import commands
from .config import SectionConfig, Settings, find_settings, load_settings, scrub, settings_from_dict
from .db.sql.dialects import dialect_for
from .errors import ConfigError
from .registry import get_plugin

__all__ = [
    "ThrowAway",
    "dbp_connection",
    "dbp_db",
    "dbp_db_config",
    "dbp_migrate",
    "dbp_settings",
]

#: Keys that say where a section's database is; a throw-away section gives a URL instead.
_WHERE = {"URL", "ENGINE", "HOST", "PORT", "USER", "USERNAME", "PASSWORD", "DB_NAME", "DATABASE"}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("db_plugins", "db-plugins: throw-away databases")
    group.addoption("--dbp-settings", metavar="PATH", help="Settings file whose DB_CONFIG the tests start from.")
    group.addoption("--dbp-engine", metavar="SECTION", help="The DB_CONFIG section of dbp_connection / dbp_db.")
    group.addoption(
        "--dbp-migrate", action="store_true", default=None, help="Make the schema with dbp migrate, not create_db."
    )
    parser.addini("dbp_settings", "Settings file whose DB_CONFIG the tests start from.", default="")
    parser.addini("dbp_engine", "The DB_CONFIG section of dbp_connection / dbp_db.", default="")
    parser.addini("dbp_migrate", "Make the schema with dbp migrate, not create_db.", type="bool", default=False)


def _option(config: pytest.Config, name: str) -> Any:
    value = config.getoption(f"--dbp-{name}")
    return value if value is not None else config.getini(f"dbp_{name}")


def _settings_file(config: pytest.Config) -> Path:
    path = _option(config, "settings") or None
    return find_settings(path, cwd=config.rootpath)


class ThrowAway:
    """The throw-away databases of one session: made on demand, dropped by :meth:`close`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.token = secrets.token_hex(4)
        self._drops: list[Any] = []

    def section(self, name: str, raw: Mapping[str, Any], validated: SectionConfig) -> dict[str, Any]:
        """``raw`` (a ``DB_CONFIG`` section) pointed at a new database on the same engine."""
        fresh = {k: v for k, v in raw.items() if k not in _WHERE}
        if validated.plugin == "SQL":
            fresh["URL"] = self._sql(name, validated)
        elif validated.plugin == "MONGO":
            fresh["URL"] = validated.url
            fresh["DATABASE"] = self._name(validated.database)  # type: ignore[attr-defined]
            self._drops.append(lambda: _drop_mongo(fresh))
        else:
            raise ConfigError(f"DB_CONFIG[{name!r}]: no throw-away database for the {validated.plugin} plugin")
        # Relative paths were the settings file's: keep them so.
        fresh["MIGRATIONS_DIR"] = str(validated.migrations_dir)
        return fresh

    def _name(self, original: str | None) -> str:
        stem = re.sub(r"[^a-z0-9_]", "_", (original or "db").lower())[:30]
        return f"test_{stem}_{self.token}"

    def _sql(self, name: str, validated: SectionConfig) -> str:
        import sqlalchemy as sa

        url = sa.make_url(validated.url)
        _features, ops = dialect_for(url.get_dialect()(), url)
        if validated.in_process:  # in memory: already fresh for this process
            return validated.url
        if ops.database_file(url) is not None:
            target = self.directory / f"{self._name(Path(url.database or 'db').stem)}.db"
            return url.set(database=str(target)).render_as_string(hide_password=False)
        database = self._name(url.database)
        create, _drop = ops.database_statements(database)
        admin = _admin_engine(ops.admin_urls(url))
        with admin.connect() as connection:
            connection.exec_driver_sql(create)

        def drop() -> None:
            try:
                ops.drop_database(admin, database)
            finally:
                admin.dispose()

        self._drops.append(drop)
        return url.set(database=database).render_as_string(hide_password=False)

    def close(self) -> None:
        errors = []
        for drop in reversed(self._drops):
            try:
                drop()
            except Exception as exc:  # drop the others all the same
                errors.append(exc)
        self._drops.clear()
        if errors:
            raise errors[0]


def _admin_engine(candidates: list[Any]) -> Any:
    """An AUTOCOMMIT engine on the server of the first of ``candidates`` (URLs) that answers."""
    import sqlalchemy as sa

    last: Exception | None = None
    for candidate in candidates:
        engine = sa.create_engine(candidate, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        try:
            with engine.connect():
                return engine
        except sa.exc.OperationalError as exc:  # that database does not exist: the next one
            engine.dispose()
            last = exc
    raise ConfigError(f"cannot reach the server to make a test database: {scrub(last)}") from last


def _drop_mongo(section: Mapping[str, Any]) -> None:
    with db_plugins.connect(dict(section), plugin="MONGO") as db:
        db.database.client.drop_database(db.database.name)


@pytest.fixture(scope="session")
def dbp_db_config(pytestconfig: pytest.Config) -> Mapping[str, Any]:
    """The ``DB_CONFIG`` the tests start from (override in ``conftest.py`` to give it in code)."""
    settings = load_settings(_settings_file(pytestconfig))
    return settings.module.DB_CONFIG  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def dbp_settings(
    dbp_db_config: Mapping[str, Any], pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """``dbp_db_config`` with each section on a throw-away database of its engine, dropped at the end."""
    try:
        base_dir = _settings_file(pytestconfig).parent
    except ConfigError:  # DB_CONFIG given in code: paths are the project's
        base_dir = pytestconfig.rootpath
    databases = ThrowAway(tmp_path_factory.mktemp("dbp"))
    try:
        fresh = {}
        for name, raw in dbp_db_config.items():
            validated = settings_from_dict({name: raw}, base_dir=base_dir).section(name)
            fresh[name] = databases.section(name, raw, validated)
        yield settings_from_dict(fresh, base_dir=base_dir)
    finally:
        databases.close()


@pytest.fixture(scope="session")
def dbp_migrate(dbp_settings: Settings) -> dict[str, list[str]]:
    """``dbp migrate`` once on the throw-away databases: ``{section: revisions applied}``."""
    return commands.migrate(dbp_settings, echo=lambda line: None)


@pytest.fixture(scope="session")
def dbp_connection(
    dbp_settings: Settings, pytestconfig: pytest.Config, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """A connection to the section's throw-away database, its schema made once (migrations or models)."""
    name = _option(pytestconfig, "engine") or next(iter(dbp_settings.sections))
    config = dbp_settings.section(name.upper())
    if _option(pytestconfig, "migrate"):
        request.getfixturevalue("dbp_migrate")
    db = db_plugins.connect(config)
    try:
        if not _option(pytestconfig, "migrate"):
            db.create_db()
        yield db
    finally:
        db.close()


class _RolledBack(Exception):
    """Ends a test's transaction: what it wrote is rolled back."""


@pytest.fixture
def dbp_db(dbp_connection: Any) -> Iterator[Any]:
    """``dbp_connection`` inside a transaction rolled back after the test (emptied tables without transactions)."""
    db = dbp_connection
    if db.features.transactions:
        with contextlib.suppress(_RolledBack), db.transaction():
            yield db
            raise _RolledBack
        return
    try:
        yield db
    finally:
        adapter = get_plugin(db.config.plugin).transfer(db.config)
        for _class_name, _table, model in adapter.models():
            db.query(model).delete(all=True)
