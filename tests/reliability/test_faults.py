"""Server faults: a server stopped, a backend killed or a server frozen in the middle of work.

What every fault must give: a ``db_plugins.ConnectionError`` (one line, the
URL masked) within a bounded time, never a hang; on SQL engines no partial
rows (the call's transaction dies with the connection); on Mongo, which has no
transaction on these servers, the error says what may stay written and the
test checks the report against the data; and once the server is back the
*same* connection object works again (SQLAlchemy's pool invalidation and
our idle ping, pymongo's reconnection), without the application restarting.

Where the faults come from:

* "server stopped": a private server of this session (``tests/reliability/private.py``)
  is stopped (PostgreSQL ``pg_ctl stop -m fast``, MariaDB SIGTERM, FerretDB SIGKILL)
  and started again on the same port;
* "backend killed": on the shared servers, the test terminates its *own*
  sessions only -- those connected to the database it created
  (``pg_terminate_backend``, MariaDB ``KILL``);
* "server frozen": SIGSTOP on a private server, with short timeouts set in
  the section (the defaults are checked separately): the call fails when its
  timeout expires.

``migrate`` faults are the interrupted revision's: PostgreSQL rolls the
revision back (transactional DDL); MariaDB cannot roll DDL back, so a revision
must be safe to re-run (the one here checks before it creates), and the
record of applied revisions never moves past what completed.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import db_plugins
from db_plugins import commands
from db_plugins.config import load_settings
from tests.reliability.checks import assert_no_secret, exception_text
from tests.reliability.conftest import private_server
from tests.reliability.private import PrivateServer
from tests.servers import fresh_database

# One worker (pytest -n 4 --dist loadgroup, as .ci/run) holds the private servers: one set of them.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("private-servers")]

#: Seconds a faulted call may take before it counts as a hang.
BOUND = 60.0
SQL_MODELS = "tests.contract.models_sql:Base"
MONGO_MODELS = "tests.contract.models_mongo"

#: What the tests injected, for the closing report (pytest -s prints it).
FAULTS: list[str] = []


def bounded(call: Callable[[], Any], bound: float = BOUND) -> tuple[BaseException | None, float]:
    """Run ``call`` in a thread; its exception (or None) and how long it took. A hang fails the test."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        started = time.monotonic()
        try:
            call()
        except BaseException as exc:
            outcome["error"] = exc
        outcome["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(bound)
    assert not thread.is_alive(), f"still running after {bound:g} s: a hang"
    return outcome.get("error"), outcome["elapsed"]


def assert_connection_error(error: BaseException | None, *names: str) -> db_plugins.ConnectionError:
    assert isinstance(error, db_plugins.ConnectionError), f"expected ConnectionError, got {error!r}"
    message = str(error)
    assert "\n" not in message, message
    for name in names:
        assert name in message, message
    assert_no_secret(exception_text(error))
    return error


def section(url: str, **options: Any) -> dict[str, Any]:
    is_sql = not url.startswith("mongodb")
    return {"URL": url, "MODELS": SQL_MODELS if is_sql else MONGO_MODELS, **options}


def item_model(db: Any) -> Any:
    if hasattr(db, "engine"):
        from tests.contract.models_sql import Item
    else:
        from tests.contract.models_mongo import Item
    return Item


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


# -- killing our own sessions on the shared servers --------------------------------------


def kill_own_sessions(url: str, where: str = "") -> int:
    """Terminate every session connected to ``url``'s database (a database this test created) but ours.

    ``where``: an extra condition on ``pg_stat_activity`` / ``information_schema.processlist``.
    """
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    if engine.dialect.name == "postgresql":
        sessions = "SELECT pid FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"
        kill = "SELECT pg_terminate_backend({pid})"
    else:
        sessions = "SELECT id FROM information_schema.processlist WHERE db = :db AND id <> CONNECTION_ID()"
        kill = "KILL {pid}"
    try:
        with engine.connect() as connection:
            query = sa.text(sessions + (f" AND {where}" if where else ""))
            pids = connection.execute(query, {"db": sa.make_url(url).database}).scalars().all()
            for pid in pids:
                with contextlib.suppress(sa.exc.DBAPIError):  # it may have ended already
                    connection.exec_driver_sql(kill.format(pid=int(pid)))
    finally:
        engine.dispose()
    return len(pids)


def sessions_waiting_on_a_lock(url: str) -> int:
    engine = sa.create_engine(url)
    name = sa.make_url(url).database
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = :db AND wait_event_type = 'Lock'"
            else:
                sql = (
                    "SELECT count(*) FROM information_schema.innodb_trx t JOIN information_schema.processlist p "
                    "ON p.id = t.trx_mysql_thread_id WHERE p.db = :db AND t.trx_state = 'LOCK WAIT'"
                )
            return int(connection.execute(sa.text(sql), {"db": name}).scalar_one())
    finally:
        engine.dispose()


# -- the faults ---------------------------------------------------------------------------------


class Fault:
    """How one scenario breaks the server and brings it back."""

    name = ""

    def __init__(self, url: str, server: PrivateServer | None = None) -> None:
        self.url = url
        self.server = server

    def inject(self, where: str = "") -> None:
        raise NotImplementedError

    def recover(self) -> None:
        """Bring the server back (a killed backend needs nothing: the server never left)."""


class StopServer(Fault):
    name = "server stopped"

    def inject(self, where: str = "") -> None:
        assert self.server is not None
        # FerretDB waits for its clients on SIGTERM: kill it, as a crash would.
        (self.server.kill if self.server.engine == "mongodb" else self.server.stop)()
        FAULTS.append(f"{self.server.engine}: {self.name}")

    def recover(self) -> None:
        assert self.server is not None
        self.server.start()


class KillBackend(Fault):
    name = "backend killed"

    def inject(self, where: str = "") -> None:
        killed = kill_own_sessions(self.url, where)
        assert killed, "no session of ours to kill"
        FAULTS.append(f"{sa.make_url(self.url).get_backend_name()}: {self.name} ({killed} session(s))")


SCENARIOS = [
    ("postgresql", "server stopped"),
    ("mysql", "server stopped"),
    ("mongodb", "server stopped"),
    ("postgresql", "backend killed"),
    ("mysql", "backend killed"),
]


@contextlib.contextmanager
def scenario(request: pytest.FixtureRequest, engine: str, kind: str, tmp_path: Path) -> Iterator[Fault]:
    """A fresh database on a private server (stopped) or on the shared one (backend killed), and its fault."""
    if kind == "server stopped":
        server = private_server(request, engine)
        try:
            with server.fresh_database() as url:
                yield StopServer(url, server)
        finally:
            server.ensure_running()
    else:
        with fresh_database(engine, tmp_path) as url:
            yield KillBackend(url)


PARAMS = [pytest.param(engine, kind, id=f"{engine}-{kind.replace(' ', '-')}") for engine, kind in SCENARIOS]


@pytest.mark.parametrize("engine, kind", PARAMS)
def test_fault_during_bulk_insert(request: pytest.FixtureRequest, tmp_path: Path, engine: str, kind: str) -> None:
    with scenario(request, engine, kind, tmp_path) as fault:
        db = db_plugins.connect(
            section(fault.url, SERVER_SELECTION_TIMEOUT_MS=3000) if engine == "mongodb" else section(fault.url)
        )
        try:
            db.create_db()
            q = db.query(item_model(db))
            q.delete(all=True)
            batch = db.features.bulk_batch_size
            total = 3 * batch

            def rows() -> Iterator[dict[str, Any]]:
                for i in range(total):
                    if i == batch + 1:  # the first batch was sent, its transaction (if any) is open
                        fault.inject()
                    yield {"oid": f"row{i:06d}", "n": i}

            error, elapsed = bounded(lambda: q.bulk_insert(rows()))
            assert elapsed < 30, f"the fault took {elapsed:.1f} s to surface"
            exc = assert_connection_error(error, "bulk_insert" if engine == "mongodb" else "cannot use database")
            fault.recover()
            # The same connection object, after the server came back.
            stored = q.count()
            if db.features.atomic_bulk:
                assert stored == 0, "partial rows after a failed bulk_insert"
            else:
                # No transaction: the first batch stays, and the error says so.
                assert stored == batch and exc.written == batch and f"{batch} row(s)" in str(exc)
            assert q.insert({"oid": "after", "n": 1}) is not None and q.count({"oid": "after"}) == 1
        finally:
            db.close()


@pytest.mark.parametrize("engine, kind", [p for p in PARAMS if "mongodb" not in p.id])
def test_fault_during_update_many_sql(request: pytest.FixtureRequest, tmp_path: Path, engine: str, kind: str) -> None:
    """The UPDATE is cut off while it waits for a row another session holds: all rows or none."""
    with scenario(request, engine, kind, tmp_path) as fault:
        db = db_plugins.connect(section(fault.url))
        blocker = sa.create_engine(fault.url)
        try:
            db.create_db()
            q = db.query(item_model(db))
            q.bulk_insert([{"oid": f"row{i:05d}", "n": i} for i in range(2000)])
            holder = blocker.connect()
            holder.begin()
            holder.execute(sa.text("SELECT n FROM items WHERE oid = 'row01999' FOR UPDATE"))
            outcome: dict[str, Any] = {}

            def update() -> None:
                started = time.monotonic()
                try:
                    q.update_many({"n": {"$gte": 0}}, {"name": "changed"})
                except BaseException as exc:
                    outcome["error"] = exc
                outcome["elapsed"] = time.monotonic() - started

            thread = threading.Thread(target=update, daemon=True)
            thread.start()
            wait_for(lambda: sessions_waiting_on_a_lock(fault.url) > 0, "the UPDATE to wait on the locked row")
            # Kill the UPDATE (the session waiting on the lock), not the blocker.
            fault.inject("wait_event_type = 'Lock'" if engine == "postgresql" else "state = 'Updating'")
            thread.join(BOUND)
            assert not thread.is_alive(), "update_many hung"
            with contextlib.suppress(Exception):
                holder.close()
            if outcome.get("error") is None and kind == "server stopped":
                # A stopping server ends its backends in no set order: when the lock's holder goes
                # first, the UPDATE may commit before its own backend is told to stop. Then every
                # row changed, never some.
                fault.recover()
                assert q.count({"name": "changed"}) == 2000, "partial rows after update_many"
                return
            assert_connection_error(outcome.get("error"))
            fault.recover()
            assert q.count({"name": "changed"}) == 0, "partial rows after a failed update_many"
            assert q.update_many({"n": {"$gte": 0}}, {"name": "changed"}) == 2000  # the same object, once back
        finally:
            blocker.dispose()
            db.close()


def test_fault_during_update_many_mongo(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """No transaction on FerretDB: documents updated before the crash stay updated, and the error says so.

    (FerretDB 1.x updates documents one by one, in time that grows with the
    square of the collection: 1,500 documents take a few seconds.)
    """
    with scenario(request, "mongodb", "server stopped", tmp_path) as fault:
        db = db_plugins.connect(section(fault.url, SERVER_SELECTION_TIMEOUT_MS=3000))
        try:
            q = db.query(item_model(db))
            q.bulk_insert([{"oid": f"row{i:05d}", "n": i} for i in range(1500)])
            outcome: dict[str, Any] = {}

            def update() -> None:
                try:
                    q.update_many({"n": {"$gte": 0}}, {"name": "changed"})
                except BaseException as exc:
                    outcome["error"] = exc

            thread = threading.Thread(target=update, daemon=True)
            thread.start()
            time.sleep(0.5)
            assert thread.is_alive(), "the update finished before the fault: make the collection larger"
            fault.inject()
            thread.join(BOUND)
            assert not thread.is_alive(), "update_many hung"
            error = assert_connection_error(outcome.get("error"), "update_many", "run the update again")
            fault.recover()
            changed = q.count({"name": "changed"})
            FAULTS.append(f"mongodb: update_many cut off after {changed} of 1500 documents")
            assert 0 <= changed < 1500, error
            # The documented recovery, on the same connection object: run it again.
            q.update_many({"name": {"$ne": "changed"}}, {"name": "changed"})
            assert q.count({"name": "changed"}) == 1500
        finally:
            db.close()


SLOW_SQL_REVISION = '''"""slow"""
import os
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "fa017ed00001"
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
    # Safe to run again after a failure: MariaDB cannot roll DDL back.
    if not sa.inspect(op.get_bind()).has_table("fault_log"):
        op.create_table("fault_log", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("INSERT INTO fault_log (id) VALUES (1)")
    flag = Path(os.environ["DBP_FAULT_FLAG"])
    if flag.exists():
        flag.unlink()
        Path(os.environ["DBP_FAULT_STARTED"]).touch()
        op.execute({sleep!r})


def downgrade():
    op.drop_table("fault_log")
'''

SLOW_MONGO_REVISION = '''"""slow"""
import os
import time
from pathlib import Path

revision = "fa017ed00001"
down_revision = {down!r}


def upgrade(db):
    db.fault_log.insert_one({{"step": 1}})
    flag = Path(os.environ["DBP_FAULT_FLAG"])
    if flag.exists():
        flag.unlink()
        Path(os.environ["DBP_FAULT_STARTED"]).touch()
        time.sleep(2)  # the server is stopped meanwhile
    db.fault_log.insert_one({{"step": 2}})


def downgrade(db):
    db.drop_collection("fault_log")
'''


@pytest.mark.parametrize("engine, kind", PARAMS)
def test_fault_during_migrate(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str, kind: str
) -> None:
    from tests.migrations import models
    from tests.migrations.project import Project

    with scenario(request, engine, kind, tmp_path) as fault:
        root = tmp_path / "project"
        root.mkdir()
        # Short waits for a server that is down (the failed run's last steps, the re-run's first).
        url = fault.url + "?serverSelectionTimeoutMS=1500" if engine == "mongodb" else fault.url
        project = Project(root, engine, url, runner="cli")
        project.write_settings()
        project.write_models(models.MONGO_V1 if engine == "mongodb" else models.SQL_V1)
        settings = load_settings(root)
        quiet: Callable[[str], None] = lambda line: None  # noqa: E731
        commands.initdb(settings, echo=quiet)
        [initial] = project.revisions()
        down = initial.name.split("_", 1)[0]
        if engine == "mongodb":
            source = SLOW_MONGO_REVISION.format(down=down)
            # A crashed holder's lock is taken over after LOCK_TTL: shortened so the re-run need not wait a minute.
            monkeypatch.setattr("db_plugins.db.mongo.migrations.backend.LOCK_TTL", 3.0)
        else:
            sleep = "SELECT pg_sleep(30)" if engine == "postgresql" else "SELECT SLEEP(30)"
            source = SLOW_SQL_REVISION.format(down=down, sleep=sleep)
        (project.versions_dir / "fa017ed00001_slow.py").write_text(source)
        flag, started = tmp_path / "flag", tmp_path / "started"
        flag.touch()
        monkeypatch.setenv("DBP_FAULT_FLAG", str(flag))
        monkeypatch.setenv("DBP_FAULT_STARTED", str(started))
        outcome: dict[str, Any] = {}

        def migrate() -> None:
            try:
                outcome["result"] = commands.migrate(settings, echo=quiet)
            except BaseException as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=migrate, daemon=True)
        thread.start()
        wait_for(started.exists, "the slow revision to start", timeout=BOUND)
        if kind == "backend killed":
            fault.inject("query LIKE '%pg_sleep%'" if engine == "postgresql" else "info LIKE 'SELECT SLEEP%'")
        else:
            fault.inject()
        thread.join(BOUND)
        assert not thread.is_alive(), "migrate hung"
        assert_connection_error(outcome.get("error"))
        fault.recover()
        # Not recorded as applied: the database is still at the initial revision.
        assert commands.current(settings, echo=quiet) == {project.section: [down]}
        if engine == "postgresql":
            assert "fault_log" not in project.tables()  # the revision's DDL was rolled back with it
        # The same command, once the server is back, completes it.
        assert commands.migrate(settings, echo=quiet) == {project.section: ["fa017ed00001"]}
        assert commands.current(settings, echo=quiet) == {project.section: ["fa017ed00001"]}


# -- timeouts: a frozen server, a server that never answers ------------------------------------------


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_idle_pooled_connection_killed_meanwhile_is_replaced(tmp_path: Path, engine: str) -> None:
    """A pooled connection idle over a second is pinged before use: one the server cut meanwhile is
    replaced without an error. In steady use it is not pinged (a round trip per call): a cut there
    fails that one call with ConnectionError, and the next call works."""
    with fresh_database(engine, tmp_path) as url, db_plugins.connect(section(url)) as db:
        db.create_db()
        q = db.query(item_model(db))
        q.insert({"oid": "a", "n": 1})
        assert kill_own_sessions(url) >= 1
        time.sleep(db.features.idle_ping_seconds + 0.3)
        assert q.count() == 1  # no error: the dead connection was found by the ping and replaced
        assert kill_own_sessions(url) >= 1
        assert_connection_error(bounded(q.count)[0])
        assert q.count() == 1


@pytest.mark.parametrize("engine", ["mysql", "mongodb"])
def test_frozen_server_is_an_error_when_the_timeout_expires(request: pytest.FixtureRequest, engine: str) -> None:
    """SIGSTOP: the sockets stay open and nothing answers. The section's timeouts bound every call.

    (libpq has no read timeout: on PostgreSQL a frozen server is bounded only by
    the server's own statement_timeout and TCP keepalives noticing a dead peer.)
    """
    server = private_server(request, engine)
    if engine == "mysql":
        options = {"ENGINE_OPTIONS": {"connect_args": {"read_timeout": 2, "write_timeout": 2, "connect_timeout": 2}}}
    else:
        options = {"SOCKET_TIMEOUT_MS": 2000, "SERVER_SELECTION_TIMEOUT_MS": 2000, "CONNECT_TIMEOUT_MS": 2000}
    db = db_plugins.connect(section(server.url, **options))
    try:
        q = db.query(item_model(db))
        db.create_db()
        q.count()
        assert server.pids(), "the private server is not running"
        server.freeze()
        FAULTS.append(f"{engine}: server frozen (SIGSTOP)")
        try:
            error, elapsed = bounded(lambda: q.count(), bound=30)
            states = server.states()
        finally:
            server.thaw()
        assert error is not None, f"count answered in {elapsed:.1f} s with the server frozen: {states}"
        assert_connection_error(error)
        assert elapsed < 15, f"the 2 s timeout took {elapsed:.1f} s"
        wait_for(lambda: _works(q), "the same connection to work again")
    finally:
        db.close()


def _works(q: Any) -> bool:
    try:
        q.count()
    except db_plugins.ConnectionError:
        return False
    return True


@contextlib.contextmanager
def black_hole() -> Iterator[int]:
    """A port that accepts connections and never says a word (a server hung before its greeting)."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for sock in accepted:
            sock.close()
        listener.close()


def never_answering(engine: str, port: int) -> dict[str, Any]:
    """A section for ``engine`` on ``port`` (a :func:`black_hole`) with a 2 s connect timeout."""
    if engine == "mongodb":
        return {"URL": f"mongodb://127.0.0.1:{port}/app", "SERVER_SELECTION_TIMEOUT_MS": 2000}
    scheme = "postgresql" if engine == "postgresql" else "mysql+pymysql"
    options = {"connect_args": {"connect_timeout": 2}}
    return {"URL": f"{scheme}://dbp:pw@127.0.0.1:{port}/app", "ENGINE_OPTIONS": options}


@pytest.mark.parametrize("engine", ["postgresql", "mysql", "mongodb"])
def test_server_that_never_answers_fails_within_the_connect_timeout(engine: str) -> None:
    with black_hole() as port:
        config = never_answering(engine, port)
        FAULTS.append(f"{engine}: server that never answers")
        error, elapsed = bounded(lambda: db_plugins.connect(config), bound=30)
    assert_connection_error(error, f"127.0.0.1:{port}")
    assert elapsed < 10, f"the 2 s connect timeout took {elapsed:.1f} s"


def test_default_timeouts(tmp_path: Path) -> None:
    """Without settings of their own, connections still have bounded waits (overridable per section)."""
    from db_plugins.db.mongo.features import MongoFeatures
    from db_plugins.db.sql.dialects.mysql import MySQLFeatures
    from db_plugins.db.sql.dialects.postgresql import PostgreSQLFeatures

    assert PostgreSQLFeatures.connect_args["connect_timeout"] == 10
    assert PostgreSQLFeatures.connect_args["keepalives_idle"] <= 60
    for name in ("connect_timeout", "read_timeout", "write_timeout"):
        assert MySQLFeatures.connect_args[name]
    assert MySQLFeatures.connect_args["read_timeout"] > 600  # longer than dbp's own lock waits
    defaults = MongoFeatures.client_defaults
    assert defaults["serverselectiontimeoutms"] and defaults["connecttimeoutms"] and defaults["sockettimeoutms"]
    # What reaches the drivers, and that a section overrides it.
    with black_hole() as port:
        for url, expect in (
            (f"mysql+pymysql://u:p@127.0.0.1:{port}/d", {"read_timeout": 900, "connect_timeout": 10}),
            (f"postgresql://u:p@127.0.0.1:{port}/d", {"connect_timeout": 10, "keepalives": 1}),
        ):
            from db_plugins.db.sql.dialects import dialect_for

            _features, ops = dialect_for(sa.make_url(url).get_dialect()(), sa.make_url(url))
            options = ops.engine_options(sa.make_url(url))
            assert expect.items() <= options["connect_args"].items()
    client = db_plugins.connect("mongomock://localhost/x")  # in-process: no sockets, no timeouts to set
    client.close()
    if os.environ.get("DBP_TEST_MONGO_URL"):
        with db_plugins.connect({"URL": os.environ["DBP_TEST_MONGO_URL"], "SOCKET_TIMEOUT_MS": 1234}) as mdb:
            assert mdb.client.options.pool_options.socket_timeout == pytest.approx(1.234)
        with db_plugins.connect(os.environ["DBP_TEST_MONGO_URL"]) as mdb:
            assert mdb.client.options.pool_options.socket_timeout == pytest.approx(900)
            assert mdb.client.options.server_selection_timeout == pytest.approx(5)


def teardown_module() -> None:
    if FAULTS:
        print(f"\nfaults injected: {len(FAULTS)}")
        for fault in FAULTS:
            print(f"  {fault}")
