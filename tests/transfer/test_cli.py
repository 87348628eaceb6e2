"""``dbp dump`` / ``dbp load``: through click's CliRunner and the installed console script."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from db_plugins.cli import cli
from tests.migrations.project import Outcome, run_dbp
from tests.transfer.conftest import REPO, Side, dataset


def write_settings(directory: Path, *sides: Side) -> Path:
    config: dict = {}
    for found in sides:
        config.update(found.db_config)
    directory.joinpath("settings.py").write_text(f"DB_CONFIG = {config!r}\n")
    return directory


def dbp(directory: Path, *args: str, runner: str = "cli") -> Outcome:
    # The console script runs elsewhere: it finds the test models through PYTHONPATH.
    return run_dbp(args, runner=runner, cwd=directory, env={"PYTHONPATH": str(REPO)})


def one_line_error(outcome: Outcome, *expected: str) -> str:
    assert outcome.exit_code == 1, outcome
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), outcome
    assert "Traceback" not in outcome.output
    for text in expected:
        assert text in lines[0], outcome
    return lines[0]


def json_lines(rows: list[dict]) -> str:
    from db_plugins.transfer.values import json_default

    return "".join(json.dumps(row, default=json_default) + "\n" for row in rows)


@pytest.mark.parametrize("runner", ["cli", "process"])
def test_sqlite_to_mongodb_with_two_commands(side: Callable[[str], Side], tmp_path: Path, runner: str) -> None:
    sqlite, mongo = side("sqlite"), side("mongodb")
    rows = dataset()
    sqlite.q().bulk_insert(rows)
    project = write_settings(tmp_path, sqlite, mongo)
    out = tmp_path / "readings.csv"

    dumped = dbp(project, "dump", "Reading", "--engine", "SQL", "-o", str(out), runner=runner)
    assert (dumped.exit_code, dumped.stdout, dumped.stderr) == (0, f"SQL: dumped 23 rows of Reading to {out}\n", "")
    loaded = dbp(project, "load", str(out), "readings", "--engine", "mongo", "--batch-size", "10", runner=runner)
    assert loaded.exit_code == 0, loaded
    assert loaded.stdout == f"MONGO: loaded {out} into Reading: 23 read, 23 written, 0 skipped\n"
    assert mongo.rows() == rows


def test_a_name_in_two_sections_needs_engine(side: Callable[[str], Side], tmp_path: Path) -> None:
    project = write_settings(tmp_path, side("sqlite"), side("mongomock"))
    one_line_error(
        dbp(project, "dump", "readings", "-o", str(tmp_path / "x.csv")),
        "'readings' is a model in SQL and MONGO: pass --engine SQL or --engine MONGO",
    )
    assert not (tmp_path / "x.csv").exists()


def test_dump_to_stdout_with_filter_and_order(side: Callable[[str], Side], tmp_path: Path) -> None:
    db = side("sqlite")
    db.q().bulk_insert(dataset())
    project = write_settings(tmp_path, db)
    outcome = dbp(project, "dump", "readings", "-o", "-", "--filter", '{"n": {"$gte": 5000}}', "--order-by", "-n,id")
    assert outcome.exit_code == 0, outcome
    assert [json.loads(line)["n"] for line in outcome.stdout.splitlines()] == [
        12000,
        11000,
        10000,
        8000,
        7000,
        6000,
        5000,
    ]
    assert outcome.stderr == "SQL: dumped 7 rows of Reading to <stdout>\n"


def test_load_from_stdin(side: Callable[[str], Side], tmp_path: Path) -> None:
    db = side("mongomock")
    project = write_settings(tmp_path, db)
    rows = dataset(4)
    result = CliRunner().invoke(cli, ["--settings", str(project), "load", "-", "Reading"], input=json_lines(rows))
    assert result.exit_code == 0, result.output
    assert result.stdout == "MONGO: loaded <stdin> into Reading: 4 read, 4 written, 0 skipped\n"
    assert db.rows() == rows


@pytest.mark.parametrize("engine", ["sqlite", "postgresql", "mongomock"])
def test_malformed_line_stops_with_its_number(side: Callable[[str], Side], tmp_path: Path, engine: str) -> None:
    db = side(engine)
    project = write_settings(tmp_path, db)
    lines = json_lines(dataset(12)).splitlines(keepends=True)
    lines[10] = lines[10][:25] + "\n"  # line 11: cut short
    path = tmp_path / "broken.jsonl"
    path.write_text("".join(lines))

    outcome = dbp(project, "load", str(path), "readings", "--batch-size", "4")
    one_line_error(outcome, f"{path} line 11: invalid JSON (")
    # Lines 1-8 went in two chunks; the chunk holding line 11 (lines 9-12) was never sent.
    assert outcome.stdout == f"{db.section}: Reading: 8 rows written before the error; nothing from line 9 on\n"
    assert [r["id"] for r in db.rows()] == list(range(1, 9))


@pytest.mark.parametrize("engine", ["sqlite", "postgresql", "mysql"])
def test_duplicate_key_writes_nothing_of_its_chunk(side: Callable[[str], Side], tmp_path: Path, engine: str) -> None:
    db = side(engine)
    project = write_settings(tmp_path, db)
    rows = dataset(12)
    db.q().insert(rows[9])  # id 10, in the third chunk of four rows
    path = tmp_path / "rows.jsonl"
    path.write_text(json_lines(rows))

    outcome = dbp(project, "load", str(path), "Reading", "--batch-size", "4")
    one_line_error(outcome, "duplicate key")
    assert outcome.stdout == "SQL: Reading: 8 rows written before the error; nothing from line 9 on\n"
    assert [r["id"] for r in db.rows()] == [1, 2, 3, 4, 5, 6, 7, 8, 10]

    db.q().delete({"id": {"$ne": 10}})
    atomic = dbp(project, "load", str(path), "Reading", "--batch-size", "4", "--atomic")
    one_line_error(atomic, "duplicate key")
    assert atomic.stdout == "SQL: Reading: nothing written\n"
    assert [r["id"] for r in db.rows()] == [10]

    skipped = dbp(project, "load", str(path), "Reading", "--batch-size", "4", "--on-conflict", "ignore")
    assert skipped.stdout == f"SQL: loaded {path} into Reading: 12 read, 11 written, 1 skipped\n", skipped
    assert db.rows() == rows


@pytest.mark.parametrize("engine", ["sqlite", "postgresql", "mysql", "mongodb", "mongomock"])
def test_duplicate_key_names_its_line_and_key(side: Callable[[str], Side], tmp_path: Path, engine: str) -> None:
    """A key repeated in the file, or one already stored: the error names the line and the key."""
    db = side(engine)
    project = write_settings(tmp_path, db)
    rows = dataset(6)
    repeated = tmp_path / "repeated.jsonl"
    repeated.write_text(json_lines([*rows[:4], rows[1], rows[5]]))
    one_line_error(
        dbp(project, "load", str(repeated), "Reading"),
        f"Error: {repeated} line 5: duplicate key id=2 (as on line 2)",
    )

    db.clear()
    db.q().insert(rows[3])
    stored = tmp_path / "stored.csv"
    db.q().delete(all=True)
    dbp(project, "dump", "Reading", "-o", str(stored))  # the header only
    db.q().insert(rows[3])
    stored.write_text("id,name\n1,a\n4,b\n5,c\n")
    one_line_error(
        dbp(project, "load", str(stored), "Reading"), f"Error: {stored} line 3: duplicate key id=4 (already in Reading)"
    )

    station = tmp_path / "stations.jsonl"
    db.q("Station").insert({"code": "B", "name": "b"})
    station.write_text(json_lines([{"code": "A", "name": "a"}, {"code": "B", "name": "b2"}]))
    one_line_error(
        dbp(project, "load", str(station), "Station", "--conflict-on", "code"),
        f"Error: {station} line 2: duplicate key code='B' (already in Station)",
    )


@pytest.mark.parametrize("engine", ["sqlite", "mysql", "mongomock"])
def test_load_by_a_natural_key(side: Callable[[str], Side], tmp_path: Path, engine: str) -> None:
    """``--conflict-on``: rows without the generated key, matched by their unique ``code``."""
    db = side(engine)
    project = write_settings(tmp_path, db)
    db.q("Station").bulk_insert([{"code": "A", "name": "old a"}, {"code": "B", "name": "old b"}])
    path = tmp_path / "stations.jsonl"
    path.write_text(json_lines([{"code": "B", "name": "new b"}, {"code": "C", "name": "new c"}]))

    updated = dbp(project, "load", str(path), "Station", "--on-conflict", "update", "--conflict-on", "code")
    assert updated.stdout == f"{db.section}: loaded {path} into Station: 2 read, 2 written, 0 skipped\n", updated
    names = sorted((r.code, r.name) for r in db.q("Station").find_all(paginate=False))
    assert names == [("A", "old a"), ("B", "new b"), ("C", "new c")]

    one_line_error(
        dbp(project, "load", str(path), "Station", "--on-conflict", "ignore", "--conflict-on", "code,name"),
        "conflict_on=(code, name) is not a unique key of Station",
    )
    usage = dbp(project, "load", str(path), "Station", "--on-conflict", "ignore", "--conflict-on", "code,")
    assert usage.exit_code == 2 and "--conflict-on" in usage.stderr
    assert db.q("Station").count() == 3


def test_atomic_needs_transactions(side: Callable[[str], Side], tmp_path: Path) -> None:
    db = side("mongomock")
    path = tmp_path / "rows.jsonl"
    path.write_text(json_lines(dataset(3)))
    outcome = dbp(write_settings(tmp_path, db), "load", str(path), "Reading", "--atomic")
    one_line_error(outcome, "transaction", "mongomock")
    assert db.rows() == []


def test_values_that_do_not_fit(side: Callable[[str], Side], tmp_path: Path) -> None:
    db = side("sqlite")
    project = write_settings(tmp_path, db)
    path = tmp_path / "bad.csv"
    path.write_text("id,name,n\n1,a,1\n2,b,two\n")
    one_line_error(
        dbp(project, "load", str(path), "Reading"), f"{path} line 3, column 'n': expected an integer, got 'two'"
    )
    path.write_text("id,name,mag\n1,a,9007199254740992\n2,b,9007199254740993\n")  # 2**53 + 1: no double is
    one_line_error(
        dbp(project, "load", str(path), "Reading"),
        f"{path} line 3, column 'mag': expected a number, got '9007199254740993': 9007199254740993 has no exact float",
    )
    path.write_text("id,name,colour\n1,a,red\n")
    one_line_error(dbp(project, "load", str(path), "Reading"), "column 'colour' is not a field of Reading")
    path.write_text("id,name\n1,a\n2,b,extra\n")
    one_line_error(dbp(project, "load", str(path), "Reading"), "line 3: 3 fields, but the header has 2")
    assert db.rows() == []


def test_bad_arguments(side: Callable[[str], Side], tmp_path: Path) -> None:
    db = side("sqlite")
    project = write_settings(tmp_path, db)
    out = str(tmp_path / "out.csv")
    one_line_error(
        dbp(project, "dump", "Reading", "-o", out, "--filter", '{"$where": "1"}'), "unknown operator '$where'"
    )
    one_line_error(dbp(project, "dump", "Reading", "-o", out, "--filter", "{oops"), "filter_by: invalid JSON")
    one_line_error(dbp(project, "dump", "Reading", "-o", out, "--order-by", "colour"), "unknown field 'colour'")
    one_line_error(dbp(project, "dump", "Reading", "-o", str(tmp_path / "out.xlsx")), "cannot tell the format")
    one_line_error(dbp(project, "dump", "Reading", "-o", str(tmp_path / "o.parquet.gz")), "Parquet cannot be streamed")
    one_line_error(dbp(project, "load", str(tmp_path / "no.csv"), "Reading"), "no.csv: cannot read (No such file")
    one_line_error(
        dbp(project, "dump", "Reading", "-o", str(tmp_path / "no" / "x.csv")), "x.csv: cannot write (No such"
    )
    usage = dbp(project, "load", out, "Reading", "--on-conflict", "replace")
    assert usage.exit_code == 2 and "'replace' is not one of" in usage.stderr
    assert not os.path.exists(out)


def test_unknown_name_masks_the_password(side: Callable[[str], Side], tmp_path: Path) -> None:
    pg = side("postgresql")
    project = write_settings(tmp_path, pg)
    password = __import__("sqlalchemy").make_url(pg.url).password
    outcome = dbp(project, "dump", "nothing_here", "-o", str(tmp_path / "x.csv"))
    line = one_line_error(
        outcome, "no model, table or collection named 'nothing_here'", "SQL: models readings, stations, typed"
    )
    assert password and password not in outcome.output
    assert "***" in line


def test_a_model_whose_table_is_missing(tmp_path: Path) -> None:
    config = {"SQL": {"URL": f"sqlite:///{tmp_path / 'empty.db'}", "MODELS": "tests.transfer.models_sql:Base"}}
    tmp_path.joinpath("settings.py").write_text(f"DB_CONFIG = {config!r}\n")
    one_line_error(
        dbp(tmp_path, "dump", "Reading", "-o", str(tmp_path / "x.csv")),
        "SQL: table 'readings' does not exist in sqlite:///",
        "(run dbp initdb or dbp migrate)",
    )


@pytest.mark.parametrize("engine", ["sqlite", "postgresql", "mysql", "mongodb", "mongomock"])
def test_a_row_without_its_required_key_names_its_line(
    side: Callable[[str], Side], tmp_path: Path, engine: str
) -> None:
    db = side(engine)
    project = write_settings(tmp_path, db)
    rows = dataset(6)
    del rows[4]["id"]  # line 5, in the second chunk of three
    path = tmp_path / "rows.jsonl"
    path.write_text(json_lines(rows))
    outcome = dbp(project, "load", str(path), "Reading", "--batch-size", "3")
    one_line_error(outcome, f"{path} line 5: missing required field 'id' for Reading")
    assert outcome.stdout == f"{db.section}: Reading: 3 rows written before the error; nothing from line 4 on\n"
    assert [r["id"] for r in db.rows()] == [1, 2, 3]

    csv = tmp_path / "rows.csv"
    csv.write_text("id,name\n1,a\n,b\n")  # an empty cell: NULL
    outcome = dbp(project, "load", str(csv), "Reading")
    one_line_error(outcome, f"{csv} line 3: field 'id' of Reading is required (got None)")
    assert [r["id"] for r in db.rows()] == [1, 2, 3]


@pytest.mark.parametrize(("engine", "runner"), [("sqlite", "process"), ("mongodb", "cli")])
def test_dump_and_load_show_progress_on_a_terminal_only(
    side: Callable[[str], Side], tmp_path: Path, engine: str, runner: str
) -> None:
    db = side(engine)
    db.q().bulk_insert(dataset(40))
    project = write_settings(tmp_path, db)
    out = tmp_path / "rows.jsonl"

    def run(*args: str, env: dict[str, str]) -> Outcome:
        outcome = run_dbp(args, runner=runner, cwd=project, env={"PYTHONPATH": str(REPO), **env})
        assert outcome.exit_code == 0, outcome
        return outcome

    forced = {"DBP_PROGRESS": "1"}  # stands in for a terminal
    dumped = run("dump", "Reading", "-o", str(out), env=forced)
    assert "dumping Reading" in dumped.stderr and "40/40" in dumped.stderr, dumped
    db.clear()
    loaded = run("load", str(out), "Reading", "--batch-size", "10", env=forced)
    assert f"loading {out}" in loaded.stderr and "100%" in loaded.stderr, loaded
    assert loaded.stdout.endswith("40 read, 40 written, 0 skipped\n")
    db.clear()
    for args, env in ((["load", str(out), "Reading", "-q"], forced), (["dump", "Reading", "-o", str(out)], {})):
        quiet = run(*args, env=env)  # -q, or standard error not a terminal
        assert quiet.stderr == "", quiet
