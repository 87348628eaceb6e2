"""The ``SQL`` section of ``DB_CONFIG``: keys to a SQLAlchemy URL and engine options."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from ...config import SectionConfig, check_section, register_secret, scrub, unknown_key
from ...errors import ConfigError
from .dialects import dialect_for

__all__ = ["SQLConfig", "validate_sql_section", "PART_KEYS", "DEFAULT_DRIVERS"]

PART_KEYS: dict[str, Any] = {"ENGINE": str, "HOST": str, "USER": str, "PASSWORD": str, "PORT": int, "DB_NAME": str}
OPTIONAL_KEYS: dict[str, Any] = {
    "URL": str,
    "SQLALCHEMY_DATABASE_URL": str,
    "MODELS": str,
    "MIGRATIONS_DIR": (str, os.PathLike),
    "ENGINE_OPTIONS": dict,
    "REPLICAS": (list, tuple),
    "MAX_REPLICA_LAG": (int, float),
}
DEFAULT_MIGRATIONS_DIR = "migrations"
# The drivers our extras install, for backends named without one (SQLAlchemy's
# own defaults -- psycopg 3, mysqlclient -- are not installed by us).
DEFAULT_DRIVERS = {"postgresql": "psycopg2", "mysql": "pymysql", "mariadb": "pymysql"}
# SQLAlchemy driver name -> the distribution that installs it.
_DRIVER_PACKAGES = {
    "psycopg2": "psycopg2-binary",
    "psycopg": "psycopg",
    "asyncpg": "asyncpg",
    "pg8000": "pg8000",
    "pymysql": "PyMySQL",
    "mysqldb": "mysqlclient",
    "mysqlconnector": "mysql-connector-python",
    "aiomysql": "aiomysql",
    "asyncmy": "asyncmy",
    "aiosqlite": "aiosqlite",
}


@dataclass(repr=False)
class SQLConfig(SectionConfig):
    """A validated ``SQL`` section."""

    sa_url: URL | None = None
    engine_options: dict[str, Any] = field(default_factory=dict)
    #: Read replicas (``REPLICAS``): each a section of its own (URL and engine options).
    replicas: list[SQLConfig] = field(default_factory=list)
    #: ``MAX_REPLICA_LAG`` seconds: reads go to the primary when every replica is further behind.
    max_replica_lag: float | None = None

    @property
    def in_process(self) -> str | None:
        url = self.sa_url
        if url is None:
            return None
        _features, ops = dialect_for(url.get_dialect()(), url)
        return "use a SQLite file (sqlite:///app.db) or a server" if ops.in_memory(url) else None


def validate_sql_section(name: str, section: Any, base_dir: str | os.PathLike | None = None) -> SQLConfig:
    """Check a ``SQL`` section and build its :class:`SQLConfig` (raises :class:`ConfigError`)."""
    where = f"DB_CONFIG[{name!r}]"
    if isinstance(section, Mapping) and isinstance(section.get("PASSWORD"), str):
        register_secret(section["PASSWORD"])
    if isinstance(section, Mapping):
        # A misspelt key is named before anything else: "ULR" would otherwise read as "no URL given".
        known = {"URL", "SQLALCHEMY_DATABASE_URL", *PART_KEYS, *OPTIONAL_KEYS}
        for key in section:
            if isinstance(key, str) and key not in known:
                raise unknown_key(where, key, known)
    has_url = isinstance(section, Mapping) and ("URL" in section or "SQLALCHEMY_DATABASE_URL" in section)
    if has_url:
        values = check_section(name, section, optional={**OPTIONAL_KEYS, **{k: v for k, v in PART_KEYS.items()}})
        mixed = sorted(set(values) & set(PART_KEYS))
        if mixed:
            raise ConfigError(
                f"{where}: give either URL or ENGINE/HOST/USER/PASSWORD/PORT/DB_NAME, not both (found {mixed[0]!r})"
            )
        if "URL" in values and "SQLALCHEMY_DATABASE_URL" in values:
            raise ConfigError(f"{where}: give URL or its alias SQLALCHEMY_DATABASE_URL, not both")
        key = "URL" if "URL" in values else "SQLALCHEMY_DATABASE_URL"
        url = _parse_url(f"{where}[{key!r}]", values[key])
    else:
        values = check_section(name, section, required=PART_KEYS, optional=OPTIONAL_KEYS)
        if not 0 < values["PORT"] < 65536:
            raise ConfigError(f"{where}['PORT']: expected a port number 1-65535, got {values['PORT']}")
        engine = values["ENGINE"]
        if not engine or "://" in engine:
            raise ConfigError(
                f"{where}['ENGINE']: expected a SQLAlchemy backend name such as 'postgresql', got {engine!r}"
            )
        try:
            url = URL.create(
                engine,
                username=values["USER"] or None,
                password=values["PASSWORD"] or None,
                host=values["HOST"] or None,
                port=values["PORT"],
                database=values["DB_NAME"],
            )
        except Exception as exc:
            raise ConfigError(f"{where}['ENGINE']: {scrub(exc)}") from None
        key = "ENGINE"
    url = _with_default_driver(url)
    _check_dialect(f"{where}[{key!r}]", url)
    register_secret(url.password if isinstance(url.password, str) else None)
    base = Path(base_dir).resolve() if base_dir else Path.cwd()
    url = _anchored(url, base)
    migrations = Path(values.get("MIGRATIONS_DIR", DEFAULT_MIGRATIONS_DIR))
    engine_options = dict(values.get("ENGINE_OPTIONS") or {})
    replicas = [
        _replica(f"{name}.REPLICAS[{i}]", entry, url, engine_options, base)
        for i, entry in enumerate(values.get("REPLICAS") or ())
    ]
    max_lag = values.get("MAX_REPLICA_LAG")
    if max_lag is not None and (isinstance(max_lag, bool) or max_lag < 0):
        raise ConfigError(f"{where}['MAX_REPLICA_LAG']: expected seconds >= 0, got {max_lag!r}")
    return SQLConfig(
        section=name,
        plugin="SQL",
        url=url.render_as_string(hide_password=False),
        models=values.get("MODELS"),
        migrations_dir=migrations if migrations.is_absolute() else base / migrations,
        base_dir=base,
        options={},
        password=url.password if isinstance(url.password, str) else None,
        sa_url=url,
        engine_options=engine_options,
        replicas=replicas,
        max_replica_lag=None if max_lag is None else float(max_lag),
    )


def _replica(name: str, entry: Any, primary: URL, engine_options: dict[str, Any], base: Path) -> SQLConfig:
    """A ``REPLICAS`` entry (a URL, or a section of its own) checked against its primary.

    A replica holds a copy of the primary's database: another backend or another
    database name is a settings mistake that would send reads to the wrong data.
    """
    where = f"DB_CONFIG[{name!r}]"
    if isinstance(entry, str):
        entry = {"URL": entry, "ENGINE_OPTIONS": engine_options}
    elif isinstance(entry, Mapping):
        if "REPLICAS" in entry or "MAX_REPLICA_LAG" in entry:
            raise ConfigError(f"{where}: a replica has no REPLICAS or MAX_REPLICA_LAG of its own")
        entry = {"ENGINE_OPTIONS": engine_options, **entry}
    else:
        raise ConfigError(f"{where}: expected a URL or a dict, got {type(entry).__name__}")
    replica = validate_sql_section(name, entry, base)
    url = replica.sa_url
    assert url is not None
    engine, primary_engine = _engine_of(url), _engine_of(primary)
    if engine != primary_engine:
        raise ConfigError(
            f"{where}: a {engine} replica of a {primary_engine} primary (a replica must run the primary's engine)"
        )
    if url.database != primary.database:
        raise ConfigError(
            f"{where}: database {url.database!r} is not the primary's {primary.database!r} "
            "(a replica serves the primary's database)"
        )
    return replica


def _parse_url(where: str, text: str) -> URL:
    try:
        return make_url(text)
    except Exception:
        raise ConfigError(f"{where}: not a valid SQLAlchemy URL: {scrub(text)!r}") from None


def _with_default_driver(url: URL) -> URL:
    backend, _, driver = url.drivername.partition("+")
    if not driver and backend in DEFAULT_DRIVERS:
        return url.set(drivername=f"{backend}+{DEFAULT_DRIVERS[backend]}")
    return url


def _check_dialect(where: str, url: URL) -> None:
    try:
        dialect = url.get_dialect()
    except sa.exc.NoSuchModuleError:
        raise ConfigError(
            f"{where}: unknown database backend {url.drivername!r} (expected e.g. sqlite, postgresql, mysql+pymysql)"
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        # The driver's own distribution: "db-plugins" on the public index is another project.
        package = _DRIVER_PACKAGES.get(url.get_driver_name())
        hint = f" (pip install {package})" if package else ""
        raise ConfigError(f"{where}: the driver for {url.drivername!r} is not installed: {exc}{hint}") from exc


def _anchored(url: URL, base: Path) -> URL:
    """Relative database files (SQLite's) are relative to the settings file, like MIGRATIONS_DIR."""
    _features, ops = dialect_for(url.get_dialect()(), url)
    return ops.anchored(url, base)


def _engine_of(url: sa.engine.URL) -> str:
    """The database engine a URL names (``postgresql`` of ``postgresql+psycopg2``)."""
    return url.drivername.partition("+")[0]
