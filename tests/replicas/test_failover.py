"""Failover on a private primary + standby of the test's own: either server stopped mid-run."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
import sqlalchemy as sa

import db_plugins
from db_plugins.db.sql import replicas as replicas_module
from tests.replicas.conftest import MODELS, wait_for
from tests.replicas.models import Note


def _connect(primary: Any, standby: Any) -> Any:
    url = sa.make_url(primary.url)
    replica = url.set(port=standby.port).render_as_string(hide_password=False)
    return db_plugins.connect({"URL": primary.url, "REPLICAS": [replica], "MODELS": MODELS})


def _messages(caplog: Any, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def test_a_stopped_replica_sends_reads_to_the_primary_and_back_once_it_returns(
    private_pair: Any, caplog: Any, monkeypatch: Any
) -> None:
    primary, standby = private_pair
    monkeypatch.setattr(replicas_module, "BACKOFF", 0.2)
    with _connect(primary, standby) as db, caplog.at_level(logging.WARNING, "db_plugins.replicas"):
        db.create_db()
        q = db.query(Note)
        q.insert({"id": 1, "text": "one"})
        wait_for(lambda: q.find_one({"id": 1}) is not None)
        assert q.find_one({"id": 1}).on_standby is True

        standby.stop()
        # Every read still answers, from the primary: the pooled standby connections are dead,
        # the first read finds out and is retried there, the others skip the standby.
        for _ in range(20):
            found = q.find_one({"id": 1})
            assert found is not None and found.on_standby is False
        assert q.count() == 1
        assert [n.on_standby for n in q.find_all(paginate=False)] == [False]  # a stream
        assert db.replica_status()[0]["up"] is False
        assert len(_messages(caplog, "is down")) == 1  # once per state change, not per call

        standby.start()
        time.sleep(0.3)  # past the back-off: the next read tries the standby again
        wait_for(lambda: q.find_one({"id": 1}).on_standby is True)
        assert len(_messages(caplog, "is up again")) == 1
        assert len(_messages(caplog, "is down")) == 1
        [down] = _messages(caplog, "is down")
        assert f":{standby.port}/" in down and "dbp_test_pw" not in down


def test_a_stopped_primary_leaves_reads_on_the_replica_and_writes_fail_fast(private_pair: Any) -> None:
    primary, standby = private_pair
    with _connect(primary, standby) as db:
        db.create_db()
        q = db.query(Note)
        q.insert({"id": 1, "text": "one"})
        wait_for(lambda: q.find_one({"id": 1}) is not None)

        primary.stop()
        for _ in range(5):
            found = q.find_one({"id": 1})
            assert found is not None and found.on_standby is True
        assert q.count() == 1 and [n.id for n in q.find_all(paginate=False)] == [1]
        for write in (
            lambda: q.insert({"id": 2, "text": "two"}),
            lambda: q.update_many({"id": 1}, {"text": "uno"}),
            lambda: q.get_or_create({"text": "three"}, id=3),
        ):
            started = time.monotonic()
            with pytest.raises(db_plugins.ConnectionError) as caught:
                write()
            assert time.monotonic() - started < 5  # refused at once, no hang
            assert "dbp_test_pw" not in str(caught.value)
        with db.primary(), pytest.raises(db_plugins.ConnectionError):
            q.find_one({"id": 1})  # pinned: the primary or nothing
