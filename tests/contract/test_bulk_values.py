"""bulk_insert stores exactly what insert() stores, whatever path the engine takes.

The fast paths (PostgreSQL COPY, SQLite's driver executemany, MariaDB's
multi-row INSERT, Mongo's insert_many) serialise values themselves. Each test
writes the same rows once through ``insert()`` (the one-row ORM/driver path) and
once through ``bulk_insert`` under other keys, then compares what reads back,
field by field: NULL against the empty string, quotes, newlines, backslashes,
COPY's own markers, percent signs, unicode, bytes, JSON, dates, defaults.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import db_plugins

OFFSET = 1000  # bulk rows use key + OFFSET

STRINGS = [
    "",
    None,
    "plain",
    'double " quote',
    "single ' quote",
    "comma, here",
    "new\nline",
    "cr\r\nlf",
    "tab\there",
    "back\\slash",
    "\\",
    "\\N",
    "NULL",
    "null",
    "\\.",
    "a\n\\.\nb",
    "\\.\n",
    "%s %(x)s %% %",
    "ünïcödé café ∑ 😀",
    " trailing space ",
    '"',
    '""',
    "x" * 150,
]
BYTES = [b"", None, b"\x00\x01\\\xff", b"\\x", b'\n\r\t,"', bytes(range(256)), b"\\N"]
DOCS = [{"a": [1, "two", None], "q": 'x"y\\z\n'}, None, {}, {"u": "é😀", "n": 1.5}]


class ValueBase(DeclarativeBase):
    pass


def _auto() -> str:
    return "auto"


class SQLValue(ValueBase):
    """One column of each type the fast paths serialise, plus Python-side defaults."""

    __tablename__ = "bulk_values"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    s: Mapped[str | None] = mapped_column(sa.String(200))
    i: Mapped[int | None] = mapped_column(sa.BigInteger)
    f: Mapped[float | None] = mapped_column(sa.Double)
    flag: Mapped[bool | None] = mapped_column(sa.Boolean)
    ts: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)
    day: Mapped[dt.date | None] = mapped_column(sa.Date)
    raw: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    doc: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    label: Mapped[str] = mapped_column(sa.String(20), default="none")
    stamp: Mapped[str | None] = mapped_column(sa.String(20), default=_auto)


def _mongo_model() -> Any:
    from db_plugins.db.mongo import BaseModel, Field

    class MongoValue(BaseModel):
        __tablename__ = "bulk_values"

        id = Field(int, primary_key=True)
        s = Field(str)
        i = Field(int)
        f = Field(float)
        flag = Field(bool)
        ts = Field(dt.datetime)
        day = Field(dt.date)
        raw = Field(bytes)
        doc = Field(dict)
        label = Field(str, default="none")
        stamp = Field(str, default=_auto)

    return MongoValue


FIELDS = ["s", "i", "f", "flag", "ts", "day", "raw", "doc", "label", "stamp"]


@pytest.fixture
def values(env: Any) -> Any:
    """The query for the values model on this engine, emptied."""
    if env.is_sql:
        ValueBase.metadata.create_all(env.db.engine)
        q = env.db.query(SQLValue)
    else:
        q = env.db.query(_mongo_model())
    q.delete(all=True)
    return q


def sample_rows() -> list[dict[str, Any]]:
    """Every string, bytes and JSON case, with the other fields varied alongside."""
    rows = []
    n = max(len(STRINGS), len(BYTES), len(DOCS))
    for k in range(n * 2):
        row: dict[str, Any] = {
            "id": k + 1,
            "s": STRINGS[k % len(STRINGS)],
            "i": [0, -1, 2**62, None, 7][k % 5],
            "f": [0.1, 1 / 3, 1e300, -2.5, None, 123456789.125][k % 6],
            "flag": [True, False, None][k % 3],
            "ts": [dt.datetime(2024, 2, 29, 23, 59, 59), None, dt.datetime(1970, 1, 1)][k % 3],
            "day": [dt.date(1999, 12, 31), None][k % 2],
            "raw": BYTES[k % len(BYTES)],
            "doc": DOCS[k % len(DOCS)],
        }
        # Some rows leave the defaulted fields out, some give them.
        if k % 4 == 1:
            row["label"] = "given"
        if k % 4 == 2:
            row["stamp"] = "given"
        rows.append(row)
    return rows


def stored(q: Any) -> dict[int, dict[str, Any]]:
    return {row.id: {f: _plain(getattr(row, f)) for f in FIELDS} for row in q.find_all(paginate=False)}


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, (bytearray, memoryview)) else value


def assert_same(q: Any, keys: list[int]) -> None:
    """The rows under ``keys`` (written one by one) equal those under ``key + OFFSET`` (bulk)."""
    rows = stored(q)
    for key in keys:
        assert rows[key + OFFSET] == rows[key], (key, rows[key])


def shifted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**row, "id": row["id"] + OFFSET} for row in rows]


def test_bulk_insert_stores_what_insert_stores(values):
    rows = sample_rows()
    for row in rows:
        values.insert(dict(row))
    assert values.bulk_insert(shifted(rows)) == len(rows)
    assert_same(values, [r["id"] for r in rows])
    got = stored(values)
    # And what is stored is what was given (NULL is not the empty string).
    for row in rows:
        for field, value in row.items():
            if field != "id":
                assert got[row["id"] + OFFSET][field] == value, (field, value)
    assert got[1 + OFFSET]["label"] == "none" and got[1 + OFFSET]["stamp"] == "auto"


def test_fields_in_any_order_and_generators(values):
    rows = sample_rows()
    for row in rows:
        values.insert(dict(row))
    # Same fields, reversed key order on every other row; read lazily from a generator.
    gen = (dict(reversed(list(r.items()))) if r["id"] % 2 else r for r in shifted(rows))
    assert values.bulk_insert(gen) == len(rows)
    assert_same(values, [r["id"] for r in rows])


def test_ignore_keeps_existing_rows_untouched(values):
    rows = sample_rows()
    half = rows[: len(rows) // 2]
    for row in rows:
        values.insert(dict(row))
    values.bulk_insert(shifted(half))
    # The second write has other values for the existing keys: they must not land.
    changed = [{**row, "s": "changed", "raw": b"changed"} for row in half]
    written = values.bulk_insert(shifted(changed + rows[len(half) :]), on_conflict="ignore")
    assert written == len(rows) - len(half)
    assert_same(values, [r["id"] for r in rows])


def test_update_overwrites_with_the_tricky_values(values):
    rows = sample_rows()
    for row in rows:
        values.insert(dict(row))
    # Odd keys exist already, with other values (and the defaults applied then).
    placeholder = [{"id": r["id"], "s": "old", "raw": b"old", "doc": {"old": True}, "label": "old"} for r in rows]
    values.bulk_insert(shifted(placeholder[::2]))
    written = values.bulk_insert(shifted(rows), on_conflict="update")
    assert written == len(rows)
    got = stored(values)
    for row in rows:
        expected = dict(got[row["id"]])  # what insert() stored for the same row
        if row["id"] % 2 == 1:
            # An existing row keeps the fields the upsert did not give.
            expected["label"] = row.get("label", "old")
            expected["stamp"] = row.get("stamp", "auto")
        assert got[row["id"] + OFFSET] == expected, row


def test_null_and_empty_string_stay_apart(values):
    rows = [{"id": 1, "s": ""}, {"id": 2, "s": None}, {"id": 3}, {"id": 4, "s": "\\N"}, {"id": 5, "stamp": None}]
    assert values.bulk_insert(rows) == 5
    assert values.count({"s": ""}) == 1
    assert values.count({"s": None}) == 3
    assert values.find_one({"s": "\\N"}).id == 4
    # A field given as None is stored as None; a field left out gets its default.
    assert values.find_one({"id": 5}).stamp is None
    assert values.find_one({"id": 3}).stamp == "auto"


def test_a_bad_value_in_a_later_group_writes_nothing(values):
    rows = [{"id": k, "s": "ok"} for k in range(1, 50)] + [{"id": 99, "i": "not a number"}]
    with pytest.raises(db_plugins.ValidationError, match="'i'"):
        values.bulk_insert(rows)
    assert values.count() == 0


# -- SQL only: values a fast path converts (or hands to SQLAlchemy) as SQLAlchemy's own path would --


def _sql_only(env: Any) -> None:
    if not env.is_sql:
        pytest.skip("SQL column types and defaults")


def test_values_of_other_types_are_stored_as_sqlalchemys_path_stores_them(env, values):
    _sql_only(env)
    aware = dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    rows = [
        {"id": 1, "ts": aware},  # an offset for a naive column: converted, not ignored
        {"id": 2, "i": decimal.Decimal("3")},  # whole numbers of other types for an integer column
        {"id": 3, "i": 2.0},
        {"id": 4, "f": 5},  # an int for a float column
        {"id": 5, "doc": [1, {"x": None}]},
    ]
    for row in rows:
        values.insert(dict(row))
    assert values.bulk_insert(shifted(rows)) == len(rows)
    assert_same(values, [r["id"] for r in rows])


class DefaultsBase(DeclarativeBase):
    pass


def _from_context(context: Any) -> str:
    return "ctx:" + str(context.get_current_parameters()["id"])


class Defaults(DefaultsBase):
    """Every kind of Python-side and SQL-side insert default."""

    __tablename__ = "bulk_defaults"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    scalar: Mapped[str] = mapped_column(sa.String(20), default="s")
    plain: Mapped[str] = mapped_column(sa.String(20), default=_auto)
    contextual: Mapped[str | None] = mapped_column(sa.String(20), default=_from_context)
    expression: Mapped[str | None] = mapped_column(sa.String(20), default=sa.literal("e"))
    server: Mapped[str | None] = mapped_column(sa.String(20), server_default="srv")


@pytest.mark.parametrize("mode", ["error", "ignore", "update"])
def test_column_defaults_match_insert(env, mode):
    _sql_only(env)
    DefaultsBase.metadata.create_all(env.db.engine)
    q = env.db.query(Defaults)
    q.delete(all=True)
    given = [{"id": 1}, {"id": 2, "scalar": "x"}, {"id": 3, "contextual": "y", "expression": "z"}]
    for row in given:
        q.insert(dict(row))
    assert q.bulk_insert(shifted(given), on_conflict=mode) == len(given)
    fields = ["scalar", "plain", "contextual", "expression", "server"]
    rows = {r.id: [getattr(r, f) for f in fields] for r in q.find_all(paginate=False)}
    for row in given:
        assert rows[row["id"] + OFFSET][1:2] == rows[row["id"]][1:2]
        assert rows[row["id"] + OFFSET][0] == rows[row["id"]][0]
        assert rows[row["id"] + OFFSET][3:] == rows[row["id"]][3:]
    # The context-sensitive default saw its own row's parameters.
    assert rows[1 + OFFSET][2] == f"ctx:{1 + OFFSET}" and rows[1][2] == "ctx:1"


@pytest.mark.parametrize("mode", ["ignore", "update"])
def test_duplicates_across_field_sets_follow_input_order(values, mode):
    # id 9 makes {id, s} the batch's first field set; the duplicates of id 1
    # come in the other order, so grouping by field set alone would swap them.
    rows = [
        {"id": 9, "s": "x"},
        {"id": 1, "s": "first", "i": 1},
        {"id": 1, "s": "second"},
        {"id": 1, "s": "third", "i": 3},
    ]
    if mode == "ignore":
        rows.pop()
    assert values.bulk_insert(rows, on_conflict=mode) == 2
    one = values.find_one({"id": 1})
    assert (one.s, one.i) == (("first", 1) if mode == "ignore" else ("third", 3))


def test_bulk_update_over_several_batches_and_field_sets(env, values):
    # A full batch and a remainder (SQL: 500 rows a statement; FerretDB: 99 updates
    # a bulk_write), two field sets interleaved, and a second call reusing the
    # statements the first one built.
    n = 620 if env.is_sql else 120
    values.bulk_insert({"id": k, "s": "old", "i": k} for k in range(1, n + 1))
    items = sorted(values.find_all(paginate=False), key=lambda r: r.id)
    for round_ in (1, 2):
        attrs = [{"s": f"s{k}-{round_}", "i": -k} if k % 3 else {"f": k / 2 + round_} for k in range(1, n + 1)]
        assert values.bulk_update(items, attrs) == n
        got = {r.id: (r.s, r.i, r.f) for r in values.find_all(paginate=False)}
        for k in range(1, n + 1):
            if k % 3:
                assert got[k][:2] == (f"s{k}-{round_}", -k), k
            else:
                assert got[k][2] == k / 2 + round_ and got[k][1] == k, k
