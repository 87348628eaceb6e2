"""Dump from one engine, load into another: the rows come back identical."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from db_plugins import commands
from tests.transfer.conftest import Side, dataset

PAIRS = [
    ("sqlite", "postgresql", "csv"),
    ("postgresql", "mongodb", "jsonl"),
    ("mongodb", "mysql", "csv"),
    ("mysql", "sqlite", "parquet"),
    ("mongomock", "sqlite", "parquet"),
    ("sqlite", "mongomock", "csv.gz"),
    ("postgresql", "mysql", "jsonl.gz"),
]


@pytest.mark.parametrize(("source", "target", "ext"), PAIRS, ids=[f"{s}-{t}-{e}" for s, t, e in PAIRS])
def test_round_trip(side: Callable[[str], Side], tmp_path: Path, source: str, target: str, ext: str) -> None:
    src, dst = side(source), side(target)
    rows = dataset()
    src.q().bulk_insert(rows)
    path = tmp_path / f"readings.{ext}"
    said: list[str] = []
    # Batches smaller than the data, so streaming and chunking cross their boundaries.
    assert commands.dump(src.settings, "readings", path, batch_size=4, echo=said.append) == {src.section: len(rows)}
    report = commands.load(dst.settings, path, "Reading", batch_size=5, echo=said.append)[dst.section]
    assert (report.read, report.written, report.skipped) == (len(rows), len(rows), 0)
    assert src.rows() == rows
    assert dst.rows() == rows
    assert said == [
        f"{src.section}: dumped {len(rows)} rows of Reading to {path}",
        f"{dst.section}: loaded {path} into Reading: {len(rows)} read, {len(rows)} written, 0 skipped",
    ]


@pytest.mark.parametrize("engine", ["sqlite", "mongomock"])
def test_load_back_with_each_on_conflict_mode(side: Callable[[str], Side], tmp_path: Path, engine: str) -> None:
    db = side(engine)
    rows = dataset(10)
    db.q().bulk_insert(rows[:6])
    path = tmp_path / "readings.jsonl"
    changed = [{**row, "name": f"changed {row['id']}"} for row in rows]
    db.q().bulk_insert(rows[6:])
    commands.dump(db.settings, "Reading", path, echo=lambda line: None)
    db.q().delete({"id": {"$gt": 6}})
    db.q().update_many({"id": {"$lte": 3}}, {"name": "kept"})

    ignored = commands.load(db.settings, path, "readings", on_conflict="ignore", echo=lambda line: None)
    assert (ignored[db.section].read, ignored[db.section].written, ignored[db.section].skipped) == (10, 4, 6)
    assert [r["name"] for r in db.rows()][:3] == ["kept"] * 3

    path.write_text("".join(_json_line(row) for row in changed))
    updated = commands.load(db.settings, path, "readings", on_conflict="update", echo=lambda line: None)
    assert updated[db.section].read == 10
    assert db.rows() == changed


def _json_line(row: dict) -> str:
    import json

    from db_plugins.transfer.values import json_default

    return json.dumps(row, default=json_default) + "\n"


def test_one_row_is_said_as_one_row(side: Callable[[str], Side], tmp_path: Path) -> None:
    db = side("sqlite")
    db.q().bulk_insert(dataset(1))
    said: list[str] = []
    commands.dump(db.settings, "readings", tmp_path / "r.csv", echo=said.append)
    assert said == [f"{db.section}: dumped 1 row of Reading to {tmp_path / 'r.csv'}"]
