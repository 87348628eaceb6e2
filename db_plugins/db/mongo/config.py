"""The ``MONGO`` section of ``DB_CONFIG``: keys to a connection URL, a database and client options.

Two forms, as in the spec::

    {"URL": "mongodb://user:pw@host:27017/app"}                  # DATABASE from the path
    {"URL": "mongodb://host:27017", "DATABASE": "app"}
    {"HOST": "host", "PORT": 27017, "USERNAME": "u", "PASSWORD": "pw", "DATABASE": "app"}

Any other key in UPPER_SNAKE_CASE is a ``MongoClient`` option
(``AUTH_SOURCE`` -> ``authSource``, ``SERVER_SELECTION_TIMEOUT_MS`` ->
``serverSelectionTimeoutMS``), checked against pymongo's own validators.
``mongomock://host/app`` selects the in-process mongomock engine.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, unquote, urlsplit

from ...config import SectionConfig, check_section, register_secret, scrub, unknown_key
from ...errors import ConfigError

__all__ = ["MongoConfig", "validate_mongo_section", "SCHEMES", "PART_KEYS", "client_option"]

SCHEMES = ("mongodb", "mongodb+srv", "mongomock")
PART_KEYS: dict[str, Any] = {"HOST": str, "PORT": int, "USERNAME": str, "PASSWORD": str, "DATABASE": str}
COMMON_KEYS: dict[str, Any] = {"DATABASE": str, "MODELS": str, "MIGRATIONS_DIR": (str, os.PathLike)}
DEFAULT_PORT = 27017
DEFAULT_MIGRATIONS_DIR = "migrations/mongo"
_UPPER_SNAKE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
_BAD_DB_CHARS = set('/\\. "$\x00')


@dataclass(repr=False)
class MongoConfig(SectionConfig):
    """A validated ``MONGO`` section; ``options`` holds the ``MongoClient`` options."""

    database: str = ""

    @property
    def embedded(self) -> bool:
        """A ``mongomock://`` URL: the in-process engine."""
        return self.url.startswith("mongomock://")

    @property
    def in_process(self) -> str | None:
        return "use a mongodb:// URL (a MongoDB or FerretDB server)" if self.embedded else None


def _option_names() -> dict[str, str]:
    """pymongo's option names, keyed by their spelling without case or underscores."""
    from pymongo import common

    # The URI spelling wins where both exist: READ_PREFERENCE = "nearest" (a mode, as in a
    # URL), not the keyword's ReadPreference object.
    names = [*common.KW_VALIDATORS, *common.URI_OPTIONS_VALIDATOR_MAP]
    return {n.replace("_", "").lower(): n for n in names if n not in ("username", "password")}


def client_option(where: str, key: str, value: Any) -> tuple[str, Any]:
    """The pymongo option an UPPER_SNAKE ``key`` names, with ``value`` validated by pymongo."""
    from pymongo import common

    upper_snake = isinstance(key, str) and _UPPER_SNAKE.fullmatch(key)
    name = _option_names().get(key.replace("_", "").lower()) if upper_snake else None
    if name is None:
        raise unknown_key(
            where,
            key,
            {"URL", *PART_KEYS, *COMMON_KEYS},
            "URL or HOST/PORT/USERNAME/PASSWORD, DATABASE, MODELS, MIGRATIONS_DIR, "
            "or a MongoClient option in UPPER_SNAKE_CASE such as AUTH_SOURCE",
        )
    try:
        common.validate(name, value)
    except Exception as exc:  # pymongo raises ValueError, TypeError or ConfigurationError
        raise ConfigError(f"{where}[{key!r}]: {scrub(exc)}") from None
    # The value as given: validate() converts some to internal units (ms -> s), which
    # MongoClient would read as the option's own unit again.
    return name, value


def validate_mongo_section(name: str, section: Any, base_dir: str | os.PathLike | None = None) -> MongoConfig:
    """Check a ``MONGO`` section and build its :class:`MongoConfig` (raises :class:`ConfigError`)."""
    where = f"DB_CONFIG[{name!r}]"
    if isinstance(section, Mapping) and isinstance(section.get("PASSWORD"), str):
        register_secret(section["PASSWORD"])
    known = {"URL", *PART_KEYS, *COMMON_KEYS}
    if isinstance(section, Mapping):
        own = {k: v for k, v in section.items() if k in known}
        extra = {k: v for k, v in section.items() if k not in known}
    else:
        own, extra = section, {}
    # A misspelt key is named before anything else: "ULR" would otherwise read as "no URL given".
    options = dict(client_option(where, key, value) for key, value in extra.items())
    if isinstance(section, Mapping) and "URL" in section:
        values = check_section(name, own, required={"URL": str}, optional={**COMMON_KEYS, **PART_KEYS})
        mixed = sorted(set(values) & (set(PART_KEYS) - {"DATABASE"}))
        if mixed:
            raise ConfigError(f"{where}: give either URL or HOST/PORT/USERNAME/PASSWORD, not both (found {mixed[0]!r})")
        url, password, path_db = _parse_url(f"{where}['URL']", values["URL"])
    else:
        values = check_section(
            name, own, required={"HOST": str, "DATABASE": str}, optional={**COMMON_KEYS, **PART_KEYS}
        )
        url, password, path_db = _url_from_parts(where, values)
    register_secret(password)
    database = values.get("DATABASE") or path_db
    if not database:
        raise ConfigError(
            f"{where}: no database: give DATABASE, or name it in the URL path (mongodb://host:27017/mydb)"
        )
    if _BAD_DB_CHARS & set(database) or len(database.encode()) >= 64:
        key = "DATABASE" if values.get("DATABASE") else "URL"
        raise ConfigError(f"{where}[{key!r}]: {database!r} is not a valid MongoDB database name")
    base = Path(base_dir).resolve() if base_dir else Path.cwd()
    migrations = Path(values.get("MIGRATIONS_DIR", DEFAULT_MIGRATIONS_DIR))
    return MongoConfig(
        section=name,
        plugin="MONGO",
        url=url,
        models=values.get("MODELS"),
        migrations_dir=migrations if migrations.is_absolute() else base / migrations,
        base_dir=base,
        options=options,
        password=password,
        database=database,
    )


def _parse_url(where: str, url: str) -> tuple[str, str | None, str | None]:
    """Check a Mongo URL; return it with its password and the database named in its path."""
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in SCHEMES:
        raise ConfigError(f"{where}: expected a mongodb://, mongodb+srv:// or mongomock:// URL, got {scrub(url)!r}")
    parts = urlsplit(url)
    try:
        password = unquote(parts.password) if parts.password else None
    except ValueError:
        password = None
    register_secret(password)
    if scheme != "mongodb+srv":  # parsing an SRV URL resolves it in DNS: left to connect time
        from pymongo import uri_parser

        try:
            uri_parser.parse_uri("mongodb://" + url.partition("://")[2])
        except Exception as exc:  # InvalidURI, ConfigurationError, ValueError
            raise ConfigError(f"{where}: not a valid MongoDB URL: {scrub(exc)}") from None
    database = unquote(parts.path.lstrip("/")) or None
    return url, password, database


def _url_from_parts(where: str, values: dict[str, Any]) -> tuple[str, str | None, None]:
    host = values["HOST"]
    if not host or "://" in host or "/" in host:
        raise ConfigError(f"{where}['HOST']: expected a host name such as 'localhost' (use URL for a full URL)")
    port = values.get("PORT", DEFAULT_PORT)
    if not 0 < port < 65536:
        raise ConfigError(f"{where}['PORT']: expected a port number 1-65535, got {port}")
    user, password = values.get("USERNAME"), values.get("PASSWORD")
    if password is not None and not user:
        raise ConfigError(f"{where}: PASSWORD given without USERNAME")
    auth = ""
    if user:
        auth = quote_plus(user) + (":" + quote_plus(password) if password is not None else "") + "@"
    # No database in the path: like the seed's MongoClient(host, port, username, password),
    # credentials are checked against "admin" unless AUTH_SOURCE says otherwise.
    return f"mongodb://{auth}{host}:{port}/", password, None
