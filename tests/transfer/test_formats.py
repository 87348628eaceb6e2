"""Formats and values: typed columns, NULLs, nested values, tables without models, progress, memory."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import sys
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from db_plugins import UnsupportedOperation, ValidationError, commands, transfer
from tests.transfer.conftest import Side, dataset

FORMATS = ["csv", "jsonl", "parquet", "csv.gz"]


def typed_rows() -> list[dict]:
    return [
        {
            "id": 1,
            "price": decimal.Decimal("12.3400"),
            "uid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
            "blob": b'\x00\xffbinary\n,"',
            "t": dt.time(23, 59, 58, 123456),
            "doc": {"a": [1, 2.5, None, "x"], "b": {"c": True}},
        },
        {"id": 2, "price": decimal.Decimal("-0.0001"), "uid": None, "blob": b"", "t": None, "doc": [1, "two"]},
        {"id": 3, "price": None, "uid": uuid.uuid4(), "blob": None, "t": dt.time(0, 0), "doc": None},
    ]


@pytest.mark.parametrize("ext", FORMATS)
def test_typed_columns_round_trip(side: Callable[[str], Side], tmp_path: Path, ext: str) -> None:
    db = side("sqlite")
    rows = typed_rows()
    db.q("Typed").bulk_insert(rows)
    path = tmp_path / f"typed.{ext}"
    assert transfer.dump(db.q("Typed"), path, batch_size=2) == 3
    db.q("Typed").delete(all=True)
    report = transfer.load(db.q("Typed"), path, batch_size=2)
    assert (report.read, report.written) == (3, 3)
    assert db.rows("Typed") == rows


def test_csv_null_and_empty_string(side: Callable[[str], Side], tmp_path: Path) -> None:
    db = side("sqlite")
    db.q().bulk_insert(dataset(6))
    path = tmp_path / "r.csv"
    transfer.dump(db.q(), path, order_by="id")
    lines = path.read_text().splitlines()
    assert lines[0] == "id,name,mag,n,flag,at,day"
    # Row 2 has an empty name and a NULL mag; row 3 a NULL name; rows 4 and 5 the strings \N and \\N.
    assert lines[2].startswith("2,,\\N,")
    assert lines[3].startswith("3,\\N,")
    assert lines[4].startswith("4,\\\\N,") and lines[5].startswith("5,\\\\\\N,")


def test_csv_from_other_tools(side: Callable[[str], Side], tmp_path: Path) -> None:
    """Empty cells are NULL except in string columns; booleans and numbers in their usual spellings."""
    db = side("sqlite")
    path = tmp_path / "other.csv"
    path.write_text("day,id,name,flag,n,mag,at\n2024-02-29,1,,TRUE, 7 ,1e3,2024-02-29 10:00:00\n,2,x,0,,,\n")
    assert transfer.load(db.q(), path).written == 2
    assert db.rows() == [
        {
            "id": 1,
            "name": "",
            "mag": 1000.0,
            "n": 7,
            "flag": True,
            "at": dt.datetime(2024, 2, 29, 10),
            "day": dt.date(2024, 2, 29),
        },
        {"id": 2, "name": "x", "mag": None, "n": None, "flag": False, "at": None, "day": None},
    ]


@pytest.mark.parametrize("ext", ["jsonl", "csv", "parquet"])
def test_generated_keys_and_nested_values_on_mongo(side: Callable[[str], Side], tmp_path: Path, ext: str) -> None:
    db = side("mongomock")
    notes = [{"text": "a", "tags": ["x", "y"], "meta": {"n": 1, "deep": {"ok": True}}}, {"text": "[b]"}]
    db.q("Note").bulk_insert(notes)
    before = db.rows("Note")
    assert [type(r["_id"]).__name__ for r in before] == ["ObjectId", "ObjectId"]
    path = tmp_path / f"notes.{ext}"
    commands.dump(db.settings, "notes", path, echo=lambda line: None)
    db.q("Note").delete(all=True)
    commands.load(db.settings, path, "Note", echo=lambda line: None)
    assert db.rows("Note") == before


def test_sql_table_without_a_model_is_reflected(side: Callable[[str], Side], tmp_path: Path) -> None:
    source, target = side("sqlite"), side("postgresql")
    for db in (source, target):
        with db.db.engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE IF EXISTS legacy")
            connection.exec_driver_sql("CREATE TABLE legacy (code VARCHAR(10) PRIMARY KEY, qty INTEGER, note TEXT)")
    with source.db.engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO legacy VALUES ('a', 1, NULL), ('b', NULL, ''), ('c', 3, 'x,y')")
    path = tmp_path / "legacy.csv"
    assert commands.dump(source.settings, "legacy", path, echo=lambda line: None) == {"SQL": 3}
    assert path.read_text() == 'code,qty,note\na,1,\\N\nb,\\N,\nc,3,"x,y"\n'
    report = commands.load(target.settings, path, "legacy", echo=lambda line: None)["SQL"]
    assert report.written == 3
    with target.db.engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT code, qty, note FROM legacy ORDER BY code")).all()
    assert [tuple(r) for r in stored] == [("a", 1, None), ("b", None, ""), ("c", 3, "x,y")]


def test_collection_without_a_model_dumps_as_stored(side: Callable[[str], Side], tmp_path: Path) -> None:
    db = side("mongomock")
    raw = db.db.database["events_raw"]
    raw.drop()
    raw.insert_many([{"_id": 1, "kind": "a", "n": 1}, {"_id": 2, "kind": "b", "extra": {"k": [1]}}, {"_id": 3}])
    path = tmp_path / "events.csv"
    filtered = commands.dump(
        db.settings, "events_raw", path, filter_by={"kind": {"$ne": "a"}}, order_by="-_id", echo=lambda line: None
    )
    assert filtered == {"MONGO": 2}
    assert path.read_text() == '_id,kind,n,extra\n3,\\N,\\N,\\N\n2,b,\\N,"{""k"":[1]}"\n'
    with pytest.raises(ValidationError, match="events_raw: cannot load into it"):
        commands.load(db.settings, path, "events_raw", echo=lambda line: None)


def test_a_failed_dump_leaves_no_file(side: Callable[[str], Side], tmp_path: Path) -> None:
    from bson.regex import Regex

    db = side("mongomock")
    raw = db.db.database["odd"]
    raw.drop()
    raw.insert_many([{"_id": i, "v": i} for i in range(10)] + [{"_id": 10, "v": Regex("^a")}])
    path = tmp_path / "odd.jsonl"
    with pytest.raises(transfer.TransferError, match=r"odd\.jsonl: cannot write a Regex value"):
        commands.dump(db.settings, "odd", path, batch_size=3, echo=lambda line: None)
    assert list(tmp_path.iterdir()) == []


def test_progress_bar_on_a_terminal(
    side: Callable[[str], Side], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    db = side("sqlite")
    db.q().bulk_insert(dataset(40))
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    transfer.dump(db.q(), tmp_path / "r.jsonl", batch_size=10, progress=True)
    transfer.load(db.q(), tmp_path / "r.jsonl", on_conflict="ignore", progress=True)
    shown = terminal.getvalue()
    assert "dumping Reading" in shown and "loading" in shown and "100%" in shown
    quiet = io.StringIO()
    monkeypatch.setattr(sys, "stderr", quiet)
    transfer.dump(db.q(), tmp_path / "r.jsonl", progress=True)
    assert quiet.getvalue() == ""


def test_parquet_without_pyarrow(side: Callable[[str], Side], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(UnsupportedOperation, match=r"pip install pyarrow$"):
        transfer.dump(side("sqlite").q(), tmp_path / "r.parquet")
    assert list(tmp_path.iterdir()) == []


def _peak(work: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_memory_stays_flat(side: Callable[[str], Side], tmp_path: Path) -> None:
    """Ten times the rows, about the same peak: dump and load hold a batch, not the table."""
    db = side("sqlite")
    peaks = []
    for n in (2_000, 20_000):
        db.q().delete(all=True)
        db.q().bulk_insert({**row, "id": i} for i, row in enumerate(dataset(n)))
        path = tmp_path / f"r{n}.csv"
        dumped = _peak(lambda p=path: transfer.dump(db.q(), p, batch_size=500))
        db.q().delete(all=True)
        loaded = _peak(lambda p=path: transfer.load(db.q(), p, batch_size=500))
        peaks.append((dumped, loaded))
    (small_dump, small_load), (big_dump, big_load) = peaks
    assert big_dump < small_dump * 2 + 500_000, peaks
    assert big_load < small_load * 2 + 500_000, peaks
