"""Private database servers that a test may stop, kill, freeze and restart.

The shared servers of ``scripts/services.sh`` serve every test run on the
machine at once, so fault tests never stop them: they start servers of their
own here, on free ports in temporary directories, with the same user and
password as the shared ones (``dbp`` / ``dbp_test_pw``):

* PostgreSQL 15: ``initdb`` + ``pg_ctl`` from ``/usr/lib/postgresql/15/bin``
  (run as the ``postgres`` user when the tests run as root);
* MariaDB: ``mariadb-install-db`` + ``mariadbd`` (as ``mysql`` under root);
* FerretDB: the binary ``scripts/services.sh start`` built and cached
  (``scripts/services.sh ferretdb-bin`` names it).

Each takes a second or three to start. A missing program skips the test, or
fails it under ``DBP_REQUIRE_SERVERS=1`` (CI installs all three through
``scripts/services.sh start``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import drop_database, require_servers

ROOT = Path(__file__).resolve().parents[2]
USER = "dbp"
PASSWORD = "dbp_test_pw"  # the shared servers' password: the one secret tests look for
DATABASE = "dbp_private"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
START_TIMEOUT = 60.0

__all__ = ["PrivateServer", "PrivatePostgres", "PrivateMariaDB", "PrivateFerretDB", "start_private", "free_port"]


def free_port() -> int:
    """A TCP port nothing listens on right now (the kernel's choice)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _state(pid: int) -> str | None:
    """A process's state letter from /proc: ``T`` once every thread of it is stopped, ``None``
    when it is gone, else a running thread's."""
    states = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError, IndexError):  # (a thread that ended meanwhile)
            states.add((task / "stat").read_text().rpartition(")")[2].split()[0])
    if not states:
        return None
    return "T" if states <= {"T", "t"} else sorted(states - {"T", "t"})[0]


def _missing(what: str) -> None:
    message = f"private {what} server unavailable"
    if require_servers():
        pytest.fail(f"DBP_REQUIRE_SERVERS=1 but {message}", pytrace=False)
    pytest.skip(message)


def _as_user(user: str) -> list[str]:
    """Prefix running a command as ``user`` when we are root (servers refuse to run as root)."""
    return ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []


def _children(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (from /proc: no procps needed)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its closing parenthesis.
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(stat.parent.name))
    return found


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class PrivateServer:
    """A server of this test session: ``start``, ``stop``, ``kill``, ``freeze``/``thaw``, ``close``."""

    engine = ""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"dbp-rel-{self.engine}-"))
        # Readable by the server's own user (the parents of pytest's tmp_path are not).
        self.dir.chmod(0o755)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        raise NotImplementedError

    def setup(self) -> None:
        """Create the data directory (once)."""

    @contextlib.contextmanager
    def fresh_database(self) -> Iterator[str]:
        """The URL of a new, empty database on this server, dropped afterwards (if the server is up)."""
        import secrets

        import sqlalchemy as sa

        name = "dbp_f_" + secrets.token_hex(4)
        if self.engine == "mongodb":
            yield self.url.rsplit("/", 1)[0] + "/" + name
            with contextlib.suppress(Exception):
                import pymongo

                with pymongo.MongoClient(self.url, serverSelectionTimeoutMS=3000) as client:
                    client.drop_database(name)
            return
        quote = '"' if self.engine == "postgresql" else "`"
        admin = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.exec_driver_sql(f"CREATE DATABASE {quote}{name}{quote}")
            yield sa.make_url(self.url).set(database=name).render_as_string(hide_password=False)
            with contextlib.suppress(Exception):
                drop_database(admin, name)
        finally:
            admin.dispose()

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """A clean shutdown: the server ends every session, clients see their sockets close."""
        self._signal(signal.SIGTERM)
        self._wait_exit()

    def kill(self) -> None:
        """SIGKILL: the server vanishes mid-work, as in a crash."""
        self._signal(signal.SIGKILL)
        self._wait_exit()

    def pids(self) -> list[int]:
        return [self.process.pid] if self.process and self.process.poll() is None else []

    def freeze(self) -> None:
        """SIGSTOP: the server keeps its sockets open but answers nothing (a hung host).

        Returns once every process of the server is seen stopped: each thread stops when the
        kernel next schedules it, which on a loaded machine is not at once.
        """
        pids = self.pids()
        assert pids, "freeze: the private server is not running"
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):  # (a backend that ended meanwhile)
                os.kill(pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while (running := [pid for pid in pids if _state(pid) not in ("T", None)]) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not running, f"freeze: processes {running} of the private server did not stop"

    def states(self) -> dict[int, str | None]:
        """Each process's state letter (``T``: stopped)."""
        return {pid: _state(pid) for pid in self.pids()}

    def thaw(self) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):  # (a backend that ended meanwhile)
                os.kill(pid, signal.SIGCONT)

    @property
    def running(self) -> bool:
        return bool(self.pids())

    def ensure_running(self) -> None:
        if not self.running:
            self.start()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.thaw()
        with contextlib.suppress(Exception):
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def _spawn(self, command: list[str]) -> None:
        """Start the server process, its output appended to ``server.log``, out of our process group."""
        with open(self.dir / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )

    def _wait_exit(self, timeout: float = 30) -> None:
        if self.process is not None:
            self.process.wait(timeout)
        deadline = time.monotonic() + timeout
        while _port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _wait_ready(self, ready: object) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"private {self.engine} exited at start:\n{self.log_tail()}")
            with contextlib.suppress(Exception):
                if ready():  # type: ignore[operator]
                    return
            time.sleep(0.1)
        raise RuntimeError(f"private {self.engine} not ready after {START_TIMEOUT:g} s:\n{self.log_tail()}")

    def log_tail(self) -> str:
        log = self.dir / "server.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-20:]) if log.exists() else ""


class PrivatePostgres(PrivateServer):
    engine = "postgresql"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*_as_user("postgres"), *args], capture_output=True, text=True, check=True, timeout=120)

    def setup(self) -> None:
        if not (PG_BIN / "initdb").exists() or (os.geteuid() == 0 and not shutil.which("runuser")):
            _missing("PostgreSQL")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self.data = self.dir / "data"
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        self.start()
        self._psql(
            f"CREATE ROLE {USER} LOGIN CREATEDB PASSWORD '{PASSWORD}'",
            f"CREATE DATABASE {DATABASE} OWNER {USER}",
        )

    def _psql(self, *statements: str) -> None:
        for statement in statements:
            self._run(str(PG_BIN / "psql"), "-X", "-q", "-h", str(self.dir), "-p", str(self.port), "-d", "postgres",
                      "-c", statement)  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.dir / "server.log"),
                  "-w", "-t", str(int(START_TIMEOUT)), "start")  # fmt: skip

    def stop(self) -> None:
        # -m fast: every backend is told to terminate, as an administrator's restart does.
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def pids(self) -> list[int]:
        pidfile = self.data / "postmaster.pid"
        if not pidfile.exists():
            return []
        postmaster = int(pidfile.read_text().split()[0])
        return [postmaster, *_children(postmaster)]

    def kill(self) -> None:
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        (self.data / "postmaster.pid").unlink(missing_ok=True)


class PrivateMariaDB(PrivateServer):
    engine = "mysql"

    @property
    def url(self) -> str:
        return f"mysql+pymysql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"

    def setup(self) -> None:
        self.mariadbd = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin") or ""
        if not self.mariadbd or not shutil.which("mariadb-install-db") or not shutil.which("mariadb"):
            _missing("MariaDB")
        self.user = ["--user=mysql"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "mysql", "mysql")
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={self.dir / 'data'}", *self.user,
             "--auth-root-authentication-method=socket", "--skip-test-db"],
            capture_output=True, check=True, timeout=120,
        )  # fmt: skip
        self.start()
        subprocess.run(
            ["mariadb", "--no-defaults", "-S", str(self.dir / "sock"), "-u", "root"],
            input=(
                f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}';"
                f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'127.0.0.1';"
                f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4;"
            ),
            text=True,
            capture_output=True,
            check=True,
            timeout=60,
        )

    def start(self) -> None:
        self._spawn(
            [self.mariadbd, "--no-defaults", f"--datadir={self.dir / 'data'}", f"--socket={self.dir / 'sock'}",
             f"--port={self.port}", "--bind-address=127.0.0.1", *self.user, "--skip-log-bin", "--skip-name-resolve",
             "--innodb-buffer-pool-size=64M", "--innodb-flush-log-at-trx-commit=0", "--max-connections=100",
             f"--pid-file={self.dir / 'mysqld.pid'}"]
        )  # fmt: skip
        self._wait_ready(
            lambda: (
                subprocess.run(
                    ["mariadb-admin", "--no-defaults", "-S", str(self.dir / "sock"), "-u", "root", "ping"],
                    capture_output=True,
                    timeout=5,
                ).returncode
                == 0
            )
        )


class PrivateFerretDB(PrivateServer):
    engine = "mongodb"

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/{DATABASE}"

    def setup(self) -> None:
        found = subprocess.run(
            [str(ROOT / "scripts" / "services.sh"), "ferretdb-bin"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if not found or not Path(found).is_file():
            _missing("FerretDB (run scripts/services.sh start to build it)")
        self.binary = found
        (self.dir / "data").mkdir()
        self.start()

    def start(self) -> None:
        self._spawn([self.binary, "-host", "127.0.0.1", "-port", str(self.port), "-data-dir", str(self.dir / "data")])
        self._wait_ready(self._answers)

    def _answers(self) -> bool:
        """Our FerretDB answers a ping (an open port alone could be another program's)."""
        import pymongo

        with pymongo.MongoClient(self.url, serverSelectionTimeoutMS=500, connectTimeoutMS=500) as client:
            client.admin.command("ping")
        return self.running


_CLASSES: dict[str, type[PrivateServer]] = {
    "postgresql": PrivatePostgres,
    "mysql": PrivateMariaDB,
    "mongodb": PrivateFerretDB,
}


def start_private(engine: str) -> PrivateServer:
    """A new private server for ``engine``, set up and running (the caller closes it)."""
    server = _CLASSES[engine]()
    try:
        server.setup()
    except BaseException:
        server.close()
        raise
    return server
