"""Fixtures of the replica tests: the shared standby, and a private primary + standby to break."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

import db_plugins
from tests.reliability.private import PG_BIN, PrivatePostgres
from tests.servers import fresh_database, on_replica

MODELS = "tests.replicas.models:Base"


@pytest.fixture
def pair(tmp_path: Any) -> Iterator[tuple[str, str]]:
    """A fresh database on the shared PostgreSQL server and its URL on the shared standby."""
    with fresh_database("postgresql", tmp_path) as url:
        yield url, on_replica(url)


@pytest.fixture
def db(pair: tuple[str, str]) -> Iterator[Any]:
    """A connection reading from the shared standby, with the tables created (and replayed there)."""
    url, replica = pair
    with db_plugins.connect({"URL": url, "REPLICAS": [replica], "MODELS": MODELS}) as db:
        db.create_db()
        wait_for(lambda: db.replica_status()[0]["lag"] == 0.0 and _has_table(replica))
        yield db


def _has_table(url: str) -> bool:
    engine = sa.create_engine(url)
    try:
        return sa.inspect(engine).has_table("replica_notes")
    finally:
        engine.dispose()


def wait_for(condition: Any, timeout: float = 30.0) -> None:
    """Wait until ``condition()`` is true; a database error meanwhile (a table the standby
    has not replayed yet) counts as false."""
    deadline = time.monotonic() + timeout
    while not _holds(condition):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout} s: {condition}")
        time.sleep(0.05)


def _holds(condition: Any) -> bool:
    try:
        return bool(condition())
    except db_plugins.DatabaseError:
        return False


class PrivateStandby(PrivatePostgres):
    """A hot standby of a :class:`PrivatePostgres`: ``pg_basebackup -R``, streaming from it."""

    def __init__(self, primary: PrivatePostgres) -> None:
        super().__init__()
        self.primary = primary

    def setup(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self.data = self.dir / "data"
        self._run(
            str(PG_BIN / "pg_basebackup"),
            "-h", str(self.primary.dir), "-p", str(self.primary.port), "-U", "postgres",
            "-D", str(self.data), "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip
        self.start()


@pytest.fixture
def private_pair() -> Iterator[tuple[PrivatePostgres, PrivateStandby]]:
    """A primary and its standby of this test alone, to stop at will."""
    primary = PrivatePostgres()
    standby = None
    try:
        primary.setup()
        standby = PrivateStandby(primary)
        standby.setup()
        yield primary, standby
    finally:
        for server in (standby, primary):
            if server is not None:
                with contextlib.suppress(Exception):
                    server.close()
