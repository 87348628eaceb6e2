"""Which engines the tests run on, and a fresh database per test session on each server.

Server engines run when their URL is in the environment (``DBP_TEST_POSTGRES_URL``,
``DBP_TEST_MYSQL_URL``, ``DBP_TEST_MONGO_URL``; ``scripts/services.sh start``
prints them) and are skipped otherwise -- unless ``DBP_REQUIRE_SERVERS=1``, which
turns a missing server into a failure. Every session works in databases of its
own (``dbp_t_<random>``), so concurrent test runs never meet.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

SQL_ENGINES = ("sqlite", "postgresql", "mysql")
MONGO_ENGINES = ("mongodb", "mongomock")
ENGINES = SQL_ENGINES + MONGO_ENGINES
#: Engines the contract suite adds on request: DuckDB (``DBP_TEST_DUCKDB=1``, with
#: ``duckdb-engine`` installed), an SQLAlchemy dialect run through the generic SQL dialect.
OPTIONAL_SQL_ENGINES = ("duckdb",)
SERVER_ENGINES = ("postgresql", "mysql", "mongodb")
ENV = {
    "postgresql": "DBP_TEST_POSTGRES_URL",
    "mysql": "DBP_TEST_MYSQL_URL",
    "mongodb": "DBP_TEST_MONGO_URL",
}


def optional_engines() -> tuple[str, ...]:
    """The optional engines asked for (``DBP_TEST_DUCKDB=1``); one whose driver is missing fails."""
    if os.environ.get("DBP_TEST_DUCKDB", "").strip() in ("", "0", "false", "no"):
        return ()
    try:
        import duckdb_engine  # noqa: F401
    except ImportError:
        pytest.fail("DBP_TEST_DUCKDB=1 but duckdb-engine is not installed (pip install duckdb-engine)", pytrace=False)
    return ("duckdb",)


def require_servers() -> bool:
    return os.environ.get("DBP_REQUIRE_SERVERS", "").strip() not in ("", "0", "false", "no")


def base_url(engine: str) -> str:
    """The server URL for ``engine``; skips (or fails under DBP_REQUIRE_SERVERS=1) when unset."""
    url = os.environ.get(ENV[engine], "").strip()
    if not url:
        message = f'{ENV[engine]} is not set (run: eval "$(scripts/services.sh start)")'
        if require_servers():
            pytest.fail(f"DBP_REQUIRE_SERVERS=1 but {message}", pytrace=False)
        pytest.skip(message)
    return url


#: The hot standby of the PostgreSQL server (``scripts/services.sh`` starts it as ``pgreplica``).
REPLICA_ENV = "DBP_TEST_POSTGRES_REPLICA_URL"


def replica_url() -> str:
    """The URL of the PostgreSQL standby; skips (fails under DBP_REQUIRE_SERVERS=1) when unset."""
    url = os.environ.get(REPLICA_ENV, "").strip()
    if not url:
        message = f'{REPLICA_ENV} is not set (run: eval "$(scripts/services.sh start)")'
        if require_servers():
            pytest.fail(f"DBP_REQUIRE_SERVERS=1 but {message}", pytrace=False)
        pytest.skip(message)
    return url


def on_replica(url: str, timeout: float = 30.0) -> str:
    """``url`` (of a database on the PostgreSQL server) moved to the standby, once the standby
    has replayed the database's creation."""
    import time

    import sqlalchemy as sa

    name = sa.make_url(url).database
    replica = sa.make_url(replica_url())
    admin = sa.create_engine(replica, isolation_level="AUTOCOMMIT")
    try:
        deadline = time.monotonic() + timeout
        while True:
            with admin.connect() as conn:
                if conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %(n)s", {"n": name}).first():
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"the standby did not replay CREATE DATABASE {name} within {timeout} s")
            time.sleep(0.05)
    finally:
        admin.dispose()
    return replica.set(database=name).render_as_string(hide_password=False)


@contextmanager
def fresh_database(engine: str, tmp_path: Path) -> Iterator[str]:
    """A URL of a new, empty database on ``engine``, dropped afterwards."""
    name = "dbp_t_" + secrets.token_hex(4)
    if engine == "sqlite":
        yield f"sqlite:///{tmp_path / (name + '.db')}"
        return
    if engine == "duckdb":
        yield f"duckdb:///{tmp_path / (name + '.duckdb')}"
        return
    if engine == "mongomock":
        yield f"mongomock://localhost/{name}"
        return
    url = base_url(engine)
    if engine == "mongodb":
        import pymongo

        prefix, _, rest = url.partition("://")
        hostpart = rest.split("/", 1)[0]
        query = "?" + url.split("?", 1)[1] if "?" in url else ""
        client = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000)
        try:
            yield f"{prefix}://{hostpart}/{name}{query}"
        finally:
            client.drop_database(name)
            client.close()
        return
    import sqlalchemy as sa

    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    # Linguistic default collations on purpose (ICU en-US on PostgreSQL,
    # MariaDB's case-insensitive utf8mb4 default), so the tests prove that
    # results do not depend on them.
    options = {
        "postgresql": f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
        "LOCALE_PROVIDER icu ICU_LOCALE 'en-US'",
        "mysql": f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4",
    }
    with admin.connect() as conn:
        conn.exec_driver_sql(options[engine])
    try:
        yield sa.make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            drop_database(admin, name)
        finally:
            admin.dispose()


#: ``DBP_TEST_SESSION_TZ=America/Santiago`` runs the suite with that session time zone on
#: PostgreSQL (``TimeZone``) and MariaDB (``time_zone``, as the zone's current UTC offset:
#: MariaDB may lack the named zones), so no result depends on the server's own setting.
SESSION_TZ = os.environ.get("DBP_TEST_SESSION_TZ", "").strip()


def session_time_zone_options(engine: str, zone: str) -> dict:
    """``ENGINE_OPTIONS`` connecting to ``engine`` with the session time zone ``zone``
    (a name such as ``America/Santiago`` or an offset such as ``-03:00``); ``{}`` where
    the engine has no session time zone."""
    offset = re.fullmatch(r"[+-]\d\d:\d\d", zone)
    if engine == "postgresql":
        # PostgreSQL's POSIX offsets count west positive: "-03:00" would be UTC+3.
        name = zone if not offset else "UTC" + ("+" if zone[0] == "-" else "-") + zone[1:]
        return {"connect_args": {"options": f"-c TimeZone={name}"}}
    if engine == "mysql":
        if not offset:
            from zoneinfo import ZoneInfo

            minutes = int(dt.datetime.now(ZoneInfo(zone)).utcoffset().total_seconds() // 60)
            zone = f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        return {"connect_args": {"init_command": f"SET time_zone = '{zone}'"}}
    return {}


def drop_database(admin: Any, name: str) -> None:
    """Drop database ``name`` through ``admin`` (an AUTOCOMMIT engine) as the dialect drops
    its throw-away databases (on PostgreSQL: ending its sessions, waiting out autovacuum)."""
    from db_plugins.db.sql.dialects import dialect_for

    dialect_for(admin.dialect, admin.url)[1].drop_database(admin, name)
