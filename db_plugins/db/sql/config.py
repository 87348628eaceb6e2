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

__all__ = ["SQLConfig", "validate_sql_section", "PART_KEYS", "DEFAULT_DRIVERS"]

PART_KEYS: dict[str, Any] = {"ENGINE": str, "HOST": str, "USER": str, "PASSWORD": str, "PORT": int, "DB_NAME": str}
OPTIONAL_KEYS: dict[str, Any] = {
    "URL": str,
    "SQLALCHEMY_DATABASE_URL": str,
    "MODELS": str,
    "MIGRATIONS_DIR": (str, os.PathLike),
    "ENGINE_OPTIONS": dict,
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

    @property
    def in_process(self) -> str | None:
        url = self.sa_url
        if url is None or url.get_backend_name() != "sqlite":
            return None
        database = url.database or ""
        if database in ("", ":memory:") or url.query.get("mode") == "memory":
            return "use a SQLite file (sqlite:///app.db) or a server"
        return None


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
    url = _anchor_sqlite(url, base)
    migrations = Path(values.get("MIGRATIONS_DIR", DEFAULT_MIGRATIONS_DIR))
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
        engine_options=dict(values.get("ENGINE_OPTIONS") or {}),
    )


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


def _anchor_sqlite(url: URL, base: Path) -> URL:
    """Relative SQLite paths are relative to the settings file, like MIGRATIONS_DIR."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return url
    if url.database.startswith("file:"):
        return url
    path = Path(url.database)
    return url if path.is_absolute() else url.set(database=str(base / path))
