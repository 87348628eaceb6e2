"""Private databases for one benchmark run: created on the server, dropped afterwards.

The server URLs come from the same variables as the tests
(``DBP_TEST_POSTGRES_URL``, ``DBP_TEST_MYSQL_URL``, ``DBP_TEST_MONGO_URL``;
``eval "$(scripts/services.sh env)"`` sets them). Every run works in a database
of its own (``dbp_bench_<random>``), so it never meets a concurrent test run.
Unlike the test databases, these use the server's default locale: what a user
gets from a plain ``CREATE DATABASE``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator

from db_plugins.db.sql.dialects import dialect_for

ENV = {
    "postgresql": "DBP_TEST_POSTGRES_URL",
    "mysql": "DBP_TEST_MYSQL_URL",
    "mongodb": "DBP_TEST_MONGO_URL",
}
ENGINES = ("sqlite", "postgresql", "mysql", "mongodb", "mongomock")
DEFAULT_ENGINES = ("sqlite", "postgresql", "mysql", "mongodb")
SQL_ENGINES = ("sqlite", "postgresql", "mysql")


def server_url(engine: str) -> str | None:
    """The configured server URL for ``engine`` (``None`` when unset; SQLite and mongomock need none)."""
    if engine in ("sqlite", "mongomock"):
        return ""
    return os.environ.get(ENV[engine], "").strip() or None


@contextlib.contextmanager
def private_database(engine: str, server: str) -> Iterator[str]:
    """The URL of a new, empty database on ``engine``'s server, dropped on exit."""
    name = "dbp_bench_" + secrets.token_hex(4)
    if engine == "sqlite":
        with tempfile.TemporaryDirectory(prefix="dbp-bench-") as folder:
            yield f"sqlite:///{folder}/{name}.db"
        return
    if engine == "mongomock":
        yield f"mongomock://localhost/{name}"
        return
    if engine == "mongodb":
        yield from _mongo(server, name)
        return
    import sqlalchemy as sa

    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    quote = admin.dialect.identifier_preparer.quote
    create = f"CREATE DATABASE {quote(name)}" + (" CHARACTER SET utf8mb4" if engine == "mysql" else "")
    with admin.connect() as conn:
        conn.exec_driver_sql(create)
    try:
        yield sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            dialect_for(admin.dialect, admin.url)[1].drop_database(admin, name)
        finally:
            admin.dispose()


def _mongo(server: str, name: str) -> Iterator[str]:
    import pymongo

    scheme, _, rest = server.partition("://")
    hosts = rest.split("/", 1)[0]
    query = "?" + server.split("?", 1)[1] if "?" in server else ""
    client: pymongo.MongoClient = pymongo.MongoClient(server, serverSelectionTimeoutMS=5000)
    try:
        yield f"{scheme}://{hosts}/{name}{query}"
    finally:
        client.drop_database(name)
        client.close()


@contextlib.contextmanager
def private_ferretdb() -> Iterator[str]:
    """A FerretDB server of this run's own (the binary ``scripts/services.sh`` builds), stopped on exit.

    Measurements then share the server with nothing else, and nothing else can
    be slowed (or stalled) by them.
    """
    import shutil
    import socket
    import subprocess
    import time

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found = subprocess.run(
        [os.path.join(root, "scripts", "services.sh"), "ferretdb-bin"], capture_output=True, text=True, check=False
    )
    binary = found.stdout.strip()
    if found.returncode != 0 or not os.access(binary, os.X_OK):
        raise RuntimeError(f"no FerretDB binary (run scripts/services.sh start once to build it): {found.stderr}")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="dbp-bench-ferretdb-")
    log = open(os.path.join(folder, "ferretdb.log"), "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [binary, "-host", "127.0.0.1", "-port", str(port), "-data-dir", folder],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"mongodb://127.0.0.1:{port}/"
    try:
        import pymongo

        deadline = time.monotonic() + 30
        while True:
            try:
                pymongo.MongoClient(url, serverSelectionTimeoutMS=500).admin.command("ping")
                break
            except pymongo.errors.PyMongoError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"private FerretDB did not start (log: {log.name})") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
