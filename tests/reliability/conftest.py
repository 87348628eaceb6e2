"""Fixtures of the reliability suite: a recorded connection per engine, private servers to break."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pymongo import monitoring

import db_plugins
from tests.reliability.models import Base, Doc, MongoDoc
from tests.reliability.private import PrivateServer, start_private
from tests.servers import ENGINES, SQL_ENGINES, fresh_database


class _Commands(monitoring.CommandListener):
    """Every command a pymongo client sends (what reached the server)."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in ("hello", "isMaster", "ismaster", "ping", "endSessions", "buildInfo"):
            self.seen.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@dataclass
class Recorded:
    """A connection to a fresh database of ``engine`` with the ``Doc`` model, recording what it sends.

    ``statements``: ``(statement, parameters, escaped)`` for every SQL statement,
    ``escaped`` being the driver's own rendering of the values the test marked
    (PyMySQL renders values client-side); ``commands``: every Mongo command
    (not for mongomock, which has no wire).
    """

    engine: str
    db: Any
    statements: list[tuple[str, Any, dict[str, str]]] = field(default_factory=list)
    listener: _Commands | None = None
    watch: list[str] = field(default_factory=list)

    @property
    def is_sql(self) -> bool:
        return self.engine in SQL_ENGINES

    @property
    def model(self) -> Any:
        return Doc if self.is_sql else MongoDoc

    @property
    def q(self) -> Any:
        return self.db.query(self.model)

    @property
    def commands(self) -> list[dict[str, Any]]:
        return self.listener.seen if self.listener is not None else []

    def sent(self) -> int:
        """How many statements (transaction control aside) or commands went to the server so far."""
        control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
        statements = [s for s, _, _ in self.statements if not s.lstrip().upper().startswith(control)]
        return len(statements) + len(self.commands)

    def value(self, row: Any, name: str) -> Any:
        return getattr(row, name) if self.is_sql else row.get(name)

    def reset(self) -> None:
        self.q.delete(all=True)
        self.statements.clear()
        self.commands.clear()


@pytest.fixture(scope="session", params=ENGINES)
def recorded_session(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    engine = request.param
    with fresh_database(engine, tmp_path_factory.mktemp(engine)) as url:
        if engine in SQL_ENGINES:
            db = db_plugins.connect({"URL": url})
            Base.metadata.create_all(db.engine)
            recorded = Recorded(engine, db)
            _record_statements(recorded)
        else:
            listener = _Commands()
            options = {"EVENT_LISTENERS": [listener]} if engine == "mongodb" else {}
            db = db_plugins.connect({"URL": url, **options})
            recorded = Recorded(engine, db, listener=listener)
        try:
            yield recorded
        finally:
            db.close()


def _record_statements(recorded: Recorded) -> None:
    import sqlalchemy as sa

    @sa.event.listens_for(recorded.db.engine, "before_cursor_execute")
    def before(connection: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        escape = getattr(connection.connection.driver_connection, "escape", None)
        escaped = {value: escape(value) for value in recorded.watch} if escape is not None else {}
        recorded.statements.append((statement, parameters, escaped))


@pytest.fixture
def recorded(recorded_session: Recorded) -> Iterator[Recorded]:
    """The engine's recorded connection, its table emptied and its records cleared."""
    recorded_session.reset()
    recorded_session.watch.clear()
    yield recorded_session


_private: dict[str, PrivateServer] = {}


@pytest.fixture(scope="session")
def private_servers() -> Iterator[dict[str, PrivateServer]]:
    """Private servers started on demand (one per engine for the session), closed at the end."""
    try:
        yield _private
    finally:
        for server in _private.values():
            server.close()
        _private.clear()


def private_server(request: pytest.FixtureRequest, engine: str) -> PrivateServer:
    """The session's private server for ``engine``, started on first use, running and not frozen."""
    servers: dict[str, PrivateServer] = request.getfixturevalue("private_servers")
    server = servers.get(engine)
    if server is None:
        server = servers[engine] = start_private(engine)
    server.thaw()
    server.ensure_running()
    return server
