"""Reads on a real PostgreSQL hot standby (``DBP_TEST_POSTGRES_REPLICA_URL``): routed there, and only reads."""

from __future__ import annotations

import json
import logging
from typing import Any

import sqlalchemy as sa

import db_plugins
from db_plugins import commands, transfer
from db_plugins.config import Settings
from tests.replicas.conftest import MODELS, wait_for
from tests.replicas.models import Note


def _on_standby(db: Any) -> bool:
    """``pg_is_in_recovery()`` as seen by the executor's read connection."""
    return db.executor.rows(sa.select(sa.func.pg_is_in_recovery()))[0][0]


def test_reads_outside_a_transaction_are_served_by_the_standby(db: Any) -> None:
    q = db.query(Note)
    q.insert({"id": 1, "text": "one"})
    wait_for(lambda: q.find_one({"id": 1}) is not None)
    assert _on_standby(db) is True
    assert q.find_one({"id": 1}).on_standby is True
    assert q.find_one({"text": "one"}, order_by="id").on_standby is True
    assert [n.on_standby for n in q.find_all({"id": {"$gte": 1}}, paginate=False)] == [True]  # a stream
    assert [n.on_standby for n in q.paginate(per_page=10).items] == [True]
    assert q.count() == 1 and q.check_exists({"id": 1})


def test_writes_never_reach_the_standby_and_become_visible_there(db: Any) -> None:
    q = db.query(Note)
    q.insert({"id": 1, "text": "one"})
    q.bulk_insert([{"id": 2, "text": "two"}, {"id": 3, "text": "three"}])
    q.update_many({"id": 2}, {"text": "deux"})
    # A write on the standby would have raised (it is read-only); every one committed on the primary.
    primary = sa.create_engine(db.config.url)
    with primary.connect() as conn:
        assert conn.exec_driver_sql("SELECT pg_is_in_recovery()").scalar() is False
        assert conn.exec_driver_sql("SELECT id, text FROM replica_notes ORDER BY id").all() == [
            (1, "one"),
            (2, "deux"),
            (3, "three"),
        ]
    primary.dispose()
    wait_for(lambda: [n.text for n in q.find_all(order_by="id", paginate=False)] == ["one", "deux", "three"])
    assert all(n.on_standby for n in q.find_all(paginate=False))


def test_transactions_get_or_create_and_pinned_reads_use_the_primary(db: Any) -> None:
    assert db.routes_reads  # (get_or_create pins its reads only where a read could go elsewhere)
    q = db.query(Note)
    with db.transaction():
        q.insert({"id": 1, "text": "one"})
        assert q.find_one({"id": 1}).on_standby is False  # the block's own write, on the primary
    _, created = q.get_or_create({"text": "two"}, id=2)
    assert created
    again, created = q.get_or_create({"text": "two"}, id=2)
    assert not created and again.on_standby is False
    with db.primary():
        # Read-your-writes: the pinned read sees the write at once, whatever the standby's lag.
        q.insert({"id": 3, "text": "three"})
        got = q.find_one({"id": 3})
        assert got is not None and got.on_standby is False
        assert _on_standby(db) is False
        assert [n.on_standby for n in q.find_all({"id": 3}, paginate=False)] == [False]
    wait_for(lambda: q.find_one({"id": 3}) is not None)
    assert q.find_one({"id": 3}).on_standby is True  # unpinned again


def test_replica_status_reports_a_streaming_standby(db: Any) -> None:
    [status] = db.replica_status()
    assert status["up"] is True and status["standby"] is True
    assert isinstance(status["lag"], float) and status["lag"] >= 0
    assert "***" in status["name"] and "dbp_test_pw" not in status["name"]


def test_a_standby_far_behind_max_replica_lag_sends_reads_to_the_primary(pair: tuple[str, str]) -> None:
    url, replica = pair
    with db_plugins.connect({"URL": url, "REPLICAS": [replica], "MODELS": MODELS, "MAX_REPLICA_LAG": 0}) as db:
        db.create_db()
        replicas = db.replicas
        # As if the standby had fallen 5 s behind at its last measurement.
        [state] = replicas.replicas
        wait_for(lambda: db.replica_status()[0]["lag"] == 0.0)
        # Measured in step: held there, so a busy machine's next measurement cannot move it.
        state.lag_checked = float("inf")
        assert _on_standby(db) is True
        state.lag, state.lag_checked = 5.0, float("inf")
        assert _on_standby(db) is False


def test_dbp_dump_reads_from_the_standby_and_load_from_the_primary(db: Any, tmp_path: Any, monkeypatch: Any) -> None:
    db.query(Note).insert({"id": 1, "text": "one"})
    section = {"URL": db.config.url, "REPLICAS": [db.config.replicas[0].url], "MODELS": MODELS}
    settings = Settings({"SQL": section})
    wait_for(lambda: db.query(Note).find_one({"id": 1}) is not None)
    out = tmp_path / "notes.jsonl"
    ports = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM replica_notes" in statement:
            ports.append(conn.engine.url.port)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", seen)
    try:
        commands.dump(settings, "Note", out, echo=lambda *a: None)
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", seen)
    [row] = [json.loads(line) for line in out.read_text().splitlines()]
    assert row == {"id": 1, "text": "one"}
    assert ports and set(ports) == {sa.make_url(db.config.replicas[0].url).port}  # the stream ran on the standby
    # dbp load reads (if at all) and writes on the primary, under the same settings.
    pinned = []
    load = transfer.load

    def spy(table: Any, *args: Any, **kwargs: Any) -> Any:
        pinned.append(table.query.connection.pinned)
        return load(table, *args, **kwargs)

    monkeypatch.setattr(transfer, "load", spy)
    back = tmp_path / "more.jsonl"
    back.write_text(json.dumps({"id": 2, "text": "two"}) + "\n")
    commands.load(settings, back, "Note", echo=lambda *a: None)
    assert pinned == [True]
    with db.primary():
        assert db.query(Note).find_one({"id": 2}).on_standby is False


def test_an_unreachable_replica_at_start_warns_and_reads_use_the_primary(pair: tuple[str, str], caplog: Any) -> None:
    url, replica = pair
    dead = sa.make_url(replica).set(port=1).render_as_string(hide_password=False)
    with caplog.at_level(logging.WARNING, "db_plugins.replicas"):
        with db_plugins.connect({"URL": url, "REPLICAS": [dead], "MODELS": MODELS}) as db:
            db.create_db()
            assert _on_standby(db) is False
            assert _on_standby(db) is False
            assert db.replica_status()[0]["up"] is False
    downs = [r for r in caplog.records if "is down" in r.getMessage()]
    assert len(downs) == 1, [r.getMessage() for r in caplog.records]
    assert ":1/" in downs[0].getMessage() and "dbp_test_pw" not in downs[0].getMessage()


def test_a_writable_primary_given_as_a_replica_is_named_in_a_warning(pair: tuple[str, str], caplog: Any) -> None:
    url, _ = pair
    with caplog.at_level(logging.WARNING, "db_plugins.replicas"):
        with db_plugins.connect({"URL": url, "REPLICAS": [url], "MODELS": MODELS}) as db:
            assert db.replica_status()[0]["standby"] is False
    [warning] = [r.getMessage() for r in caplog.records]
    assert "is not a standby (it accepts writes)" in warning
