"""Injection: hostile filters and documents are refused, or stored and read back as literal data -- never executed.

Every test runs on every engine against a connection that records what reaches
the server (SQL statements through SQLAlchemy's ``before_cursor_execute``,
Mongo commands through pymongo's command monitoring). A refused input must
raise ``FilterError`` (filters) or ``ValidationError`` (documents) with nothing
sent; an accepted one must come back byte for byte and match exactly itself.

Decisions these tests pin down:

* an operator document where a value is expected (``{"$ne": None}`` as a
  string field's value, or under ``$eq``/``$in``) is refused, never read as
  an operator: ``{"f": {"$eq": untrusted}}`` is the safe way to compare with
  untrusted input;
* ``$where``, ``$function``, ``$expr`` and every other operator outside the
  portable set are refused at any depth;
* NUL characters: PostgreSQL's text cannot hold them, so there a string with a
  NUL is refused (``ValidationError`` naming the field on writes, ``FilterError``
  in filters) before anything is sent; every other engine stores it and reads
  it back;
* nested documents (JSON columns, Mongo dict fields) are literal data; on Mongo
  their keys may not start with ``$`` or hold ``.`` or NUL (the server would
  read them as operators or paths), and on every engine they may be nested at
  most ``features.max_nesting`` levels (MariaDB's JSON allows 32, others 100);
* SQL values always travel as bound parameters. The one place a value is in
  the statement text is MariaDB's ``bulk_insert`` fast path, which renders
  rows with PyMySQL's own ``escape()`` -- what PyMySQL does to every
  parameter, as it has no server-side binding -- and the test checks the
  value appears there only in that escaped form.
"""

from __future__ import annotations

from typing import Any

import pytest

import db_plugins
from db_plugins.db.generic import MAX_NESTING
from db_plugins.filters import MAX_DEPTH
from tests.reliability.conftest import Recorded

SENTINEL = "dbp-SENTINEL"
# Each carries the sentinel, so its presence in a statement's text is unambiguous.
METACHARACTERS = [
    "'; DROP TABLE docs; --",
    '"; DROP TABLE docs; --',
    "' OR '1'='1",
    "') OR 1=1 --",
    "%",
    "_",
    "%%",
    "\\",
    "\\'",
    "\\\\%_",
    "`docs`",
    "%(key)s",
    "%s",
    "?",
    ":key",
    "$1",
    "/* comment */",
    "-- comment",
    "\n\r\t\x0b\x0c",
    "\x1a",
    ";",
    "é中文🙂",
    'a,b\nc"d',  # CSV (PostgreSQL's COPY path): separators, quotes, newlines
    "\\N",  # COPY's default NULL marker in text format
    "",
]
HOSTILE = [f"{SENTINEL} {i} {value}" for i, value in enumerate(METACHARACTERS)] + ["%", "_", "\\", "'", ""]

FORBIDDEN = [
    "$where",
    "$function",
    "$expr",
    "$regex",
    "$jsonSchema",
    "$text",
    "$accumulator",
    "$lookup",
    "$elemMatch",
    "$not",
    "$nor",
    "$mod",
    "$type",
    "$size",
    "$all",
    "$comment",
]


def operator_positions(op: str) -> dict[str, Any]:
    """``op`` placed everywhere a filter can hold a key or a value."""
    payload = {op: "function() { sleep(1000); return true; }"}
    nested: Any = payload
    for _ in range(MAX_DEPTH - 1):
        nested = {"$and": [{"key": "x"}, {"$or": [nested]}]}
    return {
        "top level": payload,
        "field operator": {"key": payload},
        "beside a field": {"key": "x", **payload},
        "under $and": {"$and": [{"key": "x"}, payload]},
        "under $or": {"$or": [payload]},
        "deep": nested,
        "under $eq": {"key": {"$eq": payload}},
        "under $ne": {"key": {"$ne": payload}},
        "in $in": {"key": {"$in": ["x", payload]}},
        "in $nin": {"key": {"$nin": [payload]}},
        "as the value": {"key": payload},
        "field then operator": {"key": {"$gt": "a", **payload}},
    }


def refused(recorded: Recorded, call: Any, error: type[BaseException]) -> str:
    """``call`` raises ``error`` with one line, and nothing reached the server."""
    before = recorded.sent()
    with pytest.raises(error) as info:
        call()
    assert recorded.sent() == before, "something was sent before the input was refused"
    message = str(info.value)
    assert message and "\n" not in message
    return message


@pytest.mark.parametrize("op", FORBIDDEN)
def test_forbidden_operators_at_any_depth(recorded: Recorded, op: str) -> None:
    q = recorded.q
    q.insert({"key": "x", "text": "kept"})
    for where, filter_by in operator_positions(op).items():
        for call in (
            lambda f=filter_by: q.count(f),
            lambda f=filter_by: q.find_one(f),
            lambda f=filter_by: list(q.find_all(f, paginate=False)),
            lambda f=filter_by: q.paginate(filter_by=f),
            lambda f=filter_by: q.check_exists(f),
            lambda f=filter_by: q.delete(f),
            lambda f=filter_by: q.update_many(f, {"text": "changed"}),
            lambda f=filter_by: q.get_or_create(f),
        ):
            message = refused(recorded, call, db_plugins.FilterError)
            assert "filter_by" in message or "get_or_create" in message, (where, message)
    assert recorded.value(q.find_one({"key": "x"}), "text") == "kept"


OPERATOR_VALUES = [{"$ne": None}, {"$gt": ""}, {"$where": "1"}, {"$regex": ".*"}, {"$in": ["a"]}]


@pytest.mark.parametrize("value", OPERATOR_VALUES, ids=[next(iter(v)) for v in OPERATOR_VALUES])
def test_operator_documents_as_values_are_refused(recorded: Recorded, value: dict[str, Any]) -> None:
    """An attacker's ``{"$gt": ""}`` where a string belongs: refused in documents and under ``$eq``/``$in``."""
    q = recorded.q
    q.insert({"key": "x", "text": "secret"})
    row = q.find_one({"key": "x"})
    for call in (
        lambda: q.insert({"key": "y", "text": value}),
        lambda: q.insert({"key": value}),
        lambda: q.bulk_insert([{"key": "y", "text": "ok"}, {"key": "z", "text": value}]),
        lambda: q.bulk_insert([{"key": "x", "text": value}], on_conflict="update"),
        lambda: q.update(row, {"text": value}),
        lambda: q.update_many({"key": "x"}, {"text": value}),
        lambda: q.get_or_create({"key": "y"}, text=value),
    ):
        refused(recorded, call, db_plugins.ValidationError)
    for filter_by in ({"key": {"$eq": value}}, {"key": {"$in": [value]}}, {"text": {"$ne": value}}):
        refused(recorded, lambda f=filter_by: q.count(f), db_plugins.FilterError)
    assert q.count() == 1 and recorded.value(q.find_one({"key": "x"}), "text") == "secret"


HOSTILE_KEYS = ["$key", "key.sub", "ke\x00y", "", " key", "key ", "KEY", "__class__", "_id.$oid"]


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_field_names(recorded: Recorded, key: str) -> None:
    q = recorded.q
    refused(recorded, lambda: q.count({key: "x"}), db_plugins.FilterError)
    refused(recorded, lambda: q.find_one(order_by=key), db_plugins.FilterError)
    refused(recorded, lambda: q.insert({"key": "x", key: "v"}), db_plugins.ValidationError)
    refused(recorded, lambda: q.bulk_insert([{"key": "x", key: "v"}]), db_plugins.ValidationError)
    assert q.count() == 0


@pytest.mark.parametrize("key", ["$where", "$ne", "a.b", "a\x00b", "$", "."])
def test_hostile_keys_inside_documents(recorded: Recorded, key: str) -> None:
    """JSON columns keep any key as data; Mongo refuses the keys its servers would interpret."""
    q = recorded.q
    payload = {"outer": [{key: {"$gt": ""}}], key: 1}
    if recorded.is_sql:
        q.insert({"key": "x", "payload": payload})
        assert recorded.value(q.find_one({"key": "x"}), "payload") == payload
    else:
        message = refused(recorded, lambda: q.insert({"key": "x", "payload": payload}), db_plugins.ValidationError)
        assert "'payload'" in message
        assert q.count() == 0


def _rows() -> list[dict[str, Any]]:
    return [{"key": f"k{i:02d}", "text": value, "n": i} for i, value in enumerate(HOSTILE)]


def test_sql_metacharacters_are_literal_data(recorded: Recorded) -> None:
    q = recorded.q
    recorded.watch[:] = HOSTILE
    rows = _rows()
    # Every write path: one-row insert, bulk_insert (the fast paths: COPY, multi-row, executemany), upsert.
    for row in rows[:5]:
        q.insert(row)
    assert q.bulk_insert(rows[5:15]) == 10
    assert q.bulk_insert(rows[15:], on_conflict="ignore") == len(rows) - 15
    assert q.bulk_insert([{**r, "n": r["n"] + 100} for r in rows[10:20]], on_conflict="update") == 10
    for row in rows:
        stored = q.find_one({"text": {"$eq": row["text"]}, "key": row["key"]})
        assert stored is not None and recorded.value(stored, "text") == row["text"]
        # Exact equality: "%" and "_" are not LIKE wildcards, "\\" escapes nothing.
        assert q.count({"text": row["text"]}) == sum(1 for r in rows if r["text"] == row["text"])
    assert q.count({"text": {"$in": HOSTILE}}) == len(rows)
    assert q.count({"text": {"$nin": HOSTILE[:3]}}) == len(rows) - 3
    # Ranges follow code-point order on every engine, metacharacters included.
    pivot = HOSTILE[3]
    assert q.count({"text": {"$gt": pivot}}) == sum(1 for r in rows if r["text"] > pivot)
    # Writes keyed by hostile values.
    target = HOSTILE[0]
    assert q.update_many({"text": target}, {"n": -1}) == 1
    found, created = q.get_or_create({"text": HOSTILE[1]})
    assert not created and recorded.value(found, "key") == "k01"
    made, created = q.get_or_create({"key": HOSTILE[2]}, text=HOSTILE[2])
    assert created and recorded.value(q.find_one({"key": HOSTILE[2]}), "text") == HOSTILE[2]
    q.update(made, {"text": HOSTILE[4]})
    assert q.count({"key": HOSTILE[2], "text": HOSTILE[4]}) == 1
    assert q.delete({"text": HOSTILE[5]}) == 1
    assert q.count() == len(rows)  # the table is there, nothing was dropped or matched by accident
    if recorded.is_sql:
        assert_bound(recorded)


def assert_bound(recorded: Recorded) -> None:
    """No statement text holds a hostile value, except as the driver's own escape() of it (PyMySQL)."""
    carried = 0
    for statement, parameters, escaped in recorded.statements:
        if SENTINEL in repr(parameters):
            carried += 1
        if SENTINEL not in statement:
            continue
        assert recorded.engine == "mysql" and statement.lstrip().upper().startswith("INSERT"), statement[:300]
        rest = statement
        for value in sorted(escaped, key=len, reverse=True):
            rest = rest.replace(escaped[value], "")
        assert SENTINEL not in rest, "a value in the statement text, not escaped by the driver"
    assert carried, "no statement carried the values as parameters"


def test_one_megabyte_values(recorded: Recorded) -> None:
    q = recorded.q
    big = "x" * (1 << 20)
    other = "é" * (1 << 19) + "'; --"
    q.insert({"key": "one", "text": big, "payload": {"big": other}})
    assert q.bulk_insert([{"key": "two", "text": other}, {"key": "three", "text": big + "!"}]) == 2
    row = q.find_one({"key": "one"})
    assert recorded.value(row, "text") == big and recorded.value(row, "payload") == {"big": other}
    assert q.count({"text": big}) == 1 and q.count({"text": {"$in": [big, other]}}) == 2
    q.update(row, {"text": other})
    assert q.count({"text": other}) == 2
    page = q.paginate(per_page=1, order_by="key")
    assert recorded.value(q.paginate(per_page=1, order_by="key", after=page.next_cursor).items[0], "text") == big + "!"
    # Keyset cursors carry the sort values: over 1 MB values they are refused by name, not parsed.
    huge = q.paginate(per_page=1, order_by="text").next_cursor
    with pytest.raises(ValueError, match="invalid cursor: longer than"):
        q.paginate(per_page=1, order_by="text", after=huge)


NUL_VALUES = ["\x00", "a\x00b", "\x00" * 10 + "end"]


@pytest.mark.parametrize("value", NUL_VALUES, ids=["nul", "inner nul", "many nuls"])
def test_nul_characters(recorded: Recorded, value: str) -> None:
    q = recorded.q
    q.insert({"key": "plain", "text": "plain"})
    row = q.find_one({"key": "plain"})
    if recorded.engine == "postgresql":
        for call in (
            lambda: q.insert({"key": "x", "text": value}),
            lambda: q.insert({"key": value}),
            lambda: q.bulk_insert([{"key": "y", "text": "fine"}, {"key": "x", "text": value}]),
            lambda: q.bulk_insert([{"key": "x", "text": value}], on_conflict="update"),
            lambda: q.update(row, {"text": value}),
            lambda: q.update_many({"key": "plain"}, {"text": value}),
            lambda: q.get_or_create({"key": "new"}, text=value),
        ):
            message = refused(recorded, call, db_plugins.ValidationError)
            assert "NUL" in message and ("'text'" in message or "'key'" in message)
        for filter_by in ({"text": value}, {"text": {"$in": ["a", value]}}, {"key": {"$gt": value}}):
            message = refused(recorded, lambda f=filter_by: q.count(f), db_plugins.FilterError)
            assert "NUL" in message
        assert q.count() == 1
        return
    q.insert({"key": "x", "text": value})
    q.bulk_insert([{"key": value, "text": value + "!"}])
    assert recorded.value(q.find_one({"key": "x"}), "text") == value
    assert recorded.value(q.find_one({"key": value}), "text") == value + "!"
    assert q.count({"text": value}) == 1 and q.count({"text": {"$in": [value, "plain"]}}) == 2
    q.update(row, {"text": value})
    assert q.count({"text": value}) == 2


def _nested(depth: int) -> dict[str, Any]:
    """A document ``depth`` levels deep (built without recursion)."""
    document: dict[str, Any] = {"leaf": "bottom"}
    for _ in range(depth - 1):
        document = {"d": document}
    return document


def _levels(value: Any) -> int:
    levels, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            levels = max(levels, depth)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return levels


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_deeply_nested_filters(recorded: Recorded, depth: int) -> None:
    chain: dict[str, Any] = {"key": "x"}
    for _ in range(depth):
        chain = {"$and": [chain]}
    message = refused(recorded, lambda: recorded.q.count(chain), db_plugins.FilterError)
    assert f"deeper than {MAX_DEPTH}" in message
    wide = {"$or": [{"key": str(i)} for i in range(900)]}  # wide is fine: not deep (SQLite's parser stops at 1000)
    assert recorded.q.count(wide) == 0


def test_deeply_nested_documents(recorded: Recorded) -> None:
    q = recorded.q
    limit = recorded.db.features.max_nesting if recorded.is_sql else MAX_NESTING
    deepest = _nested(limit)
    assert _levels(deepest) == limit
    q.insert({"key": "deep", "payload": deepest})
    assert recorded.value(q.find_one({"key": "deep"}), "payload") == deepest
    row = q.find_one({"key": "deep"})
    for depth in (limit + 1, 10_000, 200_000):
        too_deep = _nested(depth)
        for call in (
            lambda d=too_deep: q.insert({"key": "x", "payload": d}),
            lambda d=too_deep: q.bulk_insert([{"key": "y"}, {"key": "x", "payload": d}]),
            lambda d=too_deep: q.update(row, {"payload": d}),
            lambda d=too_deep: q.update_many({"key": "deep"}, {"payload": d}),
        ):
            message = refused(recorded, call, db_plugins.ValidationError)
            assert "'payload'" in message and f"deeper than {limit}" in message
    assert q.count() == 1 and recorded.value(q.find_one({"key": "deep"}), "payload") == deepest


def test_wide_filters_work_or_are_refused_by_name(recorded: Recorded) -> None:
    """Beyond an engine's own limits (SQLite: 1000-deep expressions, 32766 variables) a wide
    filter is an ``UnsupportedOperation`` naming the engine, never a driver error."""
    # Mongo engines get narrower filters: mongomock is pure Python, and FerretDB evaluates
    # $or in time quadratic in its width (40,000 clauses keep the shared server busy for minutes).
    n_or, n_in = (1_500, 40_000) if recorded.is_sql else (300, 5_000)
    q = recorded.q
    q.bulk_insert([{"key": str(i), "n": i} for i in range(0, n_in, 7)])
    filters = [
        ({"$or": [{"key": str(i)} for i in range(n_or)]}, len(range(0, n_or, 7))),
        ({"key": {"$in": [str(i) for i in range(n_in)]}}, len(range(0, n_in, 7))),
    ]
    for filter_by, expected in filters:
        try:
            assert q.count(filter_by) == expected
        except db_plugins.UnsupportedOperation as exc:
            assert "\n" not in str(exc) and recorded.db.features.name in str(exc)
