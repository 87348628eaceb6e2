"""Fuzzing: random settings and filters only ever raise the documented exception types.

Budget (fixed, so CI time is known): :data:`SETTINGS_EXAMPLES` settings
dicts through ``settings_from_dict``; :data:`FILTER_EXAMPLES` filter dicts
through ``parse_filter``; :data:`QUERY_EXAMPLES` filters and
:data:`QUERY_EXAMPLES` ``order_by``/``paginate`` arguments through the query
interface on SQLite and on mongomock. ``DBP_TEST_FUZZ_SCALE`` multiplies them
all (e.g. ``DBP_TEST_FUZZ_SCALE=20`` for a long run).

What may escape, and nothing else:

* settings: :class:`~db_plugins.ConfigError` (one line, never the password);
* filters: :class:`~db_plugins.FilterError` (a ``ValueError``);
* queries: ``FilterError``, ``UnsupportedOperation`` (an engine limit), and
  ``ValueError`` for bad page arguments and cursors, as documented.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import db_plugins
from db_plugins.config import settings_from_dict
from db_plugins.filters import COMPARISONS, FieldInfo, parse_filter
from tests.reliability.checks import assert_no_secret, exception_text
from tests.reliability.private import PASSWORD

SCALE = max(1, int(os.environ.get("DBP_TEST_FUZZ_SCALE", "1")))
SETTINGS_EXAMPLES = 400 * SCALE
FILTER_EXAMPLES = 600 * SCALE
QUERY_EXAMPLES = 200 * SCALE

# -- settings ----------------------------------------------------------------------------------

SQL_KEYS = ["URL", "SQLALCHEMY_DATABASE_URL", "ENGINE", "HOST", "USER", "PASSWORD", "PORT", "DB_NAME", "MODELS",
            "MIGRATIONS_DIR", "ENGINE_OPTIONS"]  # fmt: skip
MONGO_KEYS = ["URL", "HOST", "PORT", "USERNAME", "PASSWORD", "DATABASE", "AUTH_SOURCE", "SERVER_SELECTION_TIMEOUT_MS",
              "SOCKET_TIMEOUT_MS", "TLS", "REPLICA_SET", "READ_PREFERENCE", "W", "APP_NAME"]  # fmt: skip
URLS = [
    f"postgresql://dbp:{PASSWORD}@127.0.0.1:5432/app",
    f"mysql+pymysql://dbp:{PASSWORD}@h/app?charset=utf8mb4",
    f"mongodb://dbp:{PASSWORD}@h1:27017,h2/app?authSource=admin",
    f"mongodb+srv://dbp:{PASSWORD}@cluster.example/app",
    "mongomock://localhost/app",
    "sqlite:///app.db",
    "sqlite://",
    f"oracle://dbp:{PASSWORD}@h/app",
    f"postgresql://dbp:{PASSWORD}@h:notaport/app",
    f"mongodb://dbp:{PASSWORD}@/app",
    f"redis://:{PASSWORD}@h/0",
    "://",
    "",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(URLS),
    st.sampled_from(["postgresql", "mysql", "sqlite", "mongodb", "nosuchdb", PASSWORD, "127.0.0.1", "x.y:z"]),
    st.binary(max_size=10),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6,
)
sections = st.dictionaries(
    st.one_of(st.sampled_from(SQL_KEYS + MONGO_KEYS), st.text(max_size=12), st.integers()), values, max_size=7
)
db_configs = st.one_of(
    st.dictionaries(
        st.one_of(st.sampled_from(["SQL", "MONGO", "REDIS", "sql", ""]), st.text(max_size=6), st.integers()),
        st.one_of(sections, values),
        max_size=3,
    ),
    values,
)


@settings(max_examples=SETTINGS_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(db_config=db_configs)
def test_settings_raise_only_config_errors(db_config: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    try:
        settings = settings_from_dict(db_config, base_dir=tmp_path_factory.getbasetemp())
    except db_plugins.ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message, message
        assert_no_secret(exception_text(exc))
    else:
        for section in settings.sections.values():
            assert_no_secret(repr(section), section.masked_url)
        assert_no_secret(repr(settings))


# -- filters -----------------------------------------------------------------------------------

SCHEMA = {
    "id": FieldInfo("id", "int", nullable=False),
    "i": FieldInfo("i", "int"),
    "f": FieldInfo("f", "float"),
    "s": FieldInfo("s", "str"),
    "b": FieldInfo("b", "bool"),
}
FIELDS = list(SCHEMA)
OPERATORS = ["$" + op for op in COMPARISONS] + ["$and", "$or", "$where", "$expr", "$function", "$regex", "$not", "$"]
filter_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(),
    st.decimals(allow_nan=True),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    st.sampled_from(["\x00", "a\x00b", "\ud800", "'; DROP TABLE samples; --", "%", "_", "\\"]),
    st.binary(max_size=6),
    st.datetimes(),
    st.dates(),
    st.uuids(),
)


def _operand(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(inner, st.lists(inner, max_size=4), st.frozensets(st.integers(), max_size=3))


filter_docs = st.recursive(
    st.dictionaries(
        st.one_of(st.sampled_from(FIELDS + OPERATORS), st.text(max_size=5)),
        st.one_of(
            filter_scalars, st.dictionaries(st.sampled_from(OPERATORS + FIELDS), _operand(filter_scalars), max_size=3)
        ),
        max_size=4,
    ),
    lambda inner: st.one_of(
        st.dictionaries(
            st.sampled_from(["$and", "$or", "$nor", *FIELDS]), st.one_of(st.lists(inner, max_size=3), inner), max_size=3
        ),
        st.lists(inner, max_size=2),
    ),
    max_leaves=12,
)
# Filters that are mostly right (a field, an operator, a value of the field's type, some edge values):
# the ones that reach the database, where compilers and drivers meet the values.
typed_values = {
    "id": st.integers(min_value=-(2**63), max_value=2**63 - 1),
    "i": st.one_of(st.none(), st.integers(min_value=-(2**64), max_value=2**64), st.floats()),
    "f": st.one_of(st.none(), st.floats(), st.integers(min_value=-(2**53), max_value=2**53)),
    "s": st.one_of(st.none(), st.text(max_size=8), st.sampled_from(["\x00", "%", "_", "\\", "'", "\ud800"])),
    "b": st.one_of(st.none(), st.booleans()),
}


@st.composite
def typed_conditions(draw: st.DrawFn) -> dict[str, Any]:
    field = draw(st.sampled_from(FIELDS))
    value = typed_values[field]
    op = draw(st.sampled_from(["$" + op for op in COMPARISONS] + ["="]))
    if op == "=":
        return {field: draw(value)}
    if op in ("$in", "$nin"):
        return {field: {op: draw(st.lists(value, max_size=4))}}
    if op == "$exists":
        return {field: {op: draw(st.one_of(st.booleans(), value))}}
    return {field: {op: draw(value)}}


typed_filters = st.recursive(
    typed_conditions(),
    lambda inner: st.one_of(
        st.builds(lambda a, b: {**a, **b}, inner, inner),
        st.dictionaries(st.sampled_from(["$and", "$or"]), st.lists(inner, min_size=1, max_size=3), min_size=1),
    ),
    max_leaves=8,
)
filters = st.one_of(typed_filters, filter_docs, filter_scalars, st.lists(filter_scalars, max_size=2))
query_filters = st.one_of(typed_filters, filters)  # more of them reach the engine


@settings(max_examples=FILTER_EXAMPLES, deadline=None)
@given(filter_by=filters)
def test_parse_filter_raises_only_filter_errors(filter_by: Any) -> None:
    try:
        parse_filter(filter_by, SCHEMA, "Sample")
    except db_plugins.FilterError as exc:
        assert str(exc) and "\n" not in str(exc), str(exc)


# -- through the query interface ---------------------------------------------------------------

ROWS = [
    {"id": 1, "i": 5, "f": 1.5, "s": "abc", "b": True},
    {"id": 2, "i": -(2**62), "f": -0.0, "s": "", "b": False},
    {"id": 3, "i": None, "f": math.inf, "s": "%_\\", "b": None},
    {"id": 4, "i": 0, "f": None, "s": "a\x00b", "b": True},
    {"id": 5, "i": 2**62, "f": 1e300, "s": "中文", "b": False},
]


@pytest.fixture(scope="module", params=["sqlite", "mongomock"])
def sample(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The differential tests' ``Sample`` model on an embedded engine, with a few awkward rows."""
    if request.param == "sqlite":
        from tests.contract.models_sql import Sample

        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
        config = {"URL": url, "MODELS": "tests.contract.models_sql:Base"}
    else:
        from tests.contract.models_mongo import Sample

        config = {"URL": f"mongomock://fuzz-{uuid.uuid4().hex[:8]}/fuzz", "MODELS": "tests.contract.models_mongo"}
    with db_plugins.connect(config) as db:
        db.create_db()
        q = db.query(Sample)
        q.bulk_insert(ROWS)
        yield q


ALLOWED = (db_plugins.FilterError, db_plugins.UnsupportedOperation)


@settings(max_examples=QUERY_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(filter_by=query_filters)
def test_queries_raise_only_documented_errors(sample: Any, filter_by: Any) -> None:
    try:
        count = sample.count(filter_by)
    except ALLOWED as exc:
        event(f"refused: {type(exc).__name__}")
        assert str(exc) and "\n" not in str(exc), str(exc)
        return
    event("ran on the engine")
    assert 0 <= count <= len(ROWS)
    assert len(sample.find_all(filter_by, paginate=True, per_page=2).items) == min(count, 2)
    assert sample.check_exists(filter_by) == (count > 0)


order_items = st.one_of(
    st.sampled_from(FIELDS + [f"-{f}" for f in FIELDS] + [f"+{f}" for f in FIELDS]),
    st.text(max_size=6),
    st.integers(),
    st.none(),
    st.tuples(st.sampled_from([*FIELDS, "nope"]), st.one_of(st.booleans(), st.integers())),
)
page_values = st.one_of(st.integers(min_value=-3, max_value=10**12), st.none(), st.text(max_size=3), st.floats(),
                        st.booleans())  # fmt: skip
cursors = st.one_of(st.none(), st.text(max_size=40), st.binary(max_size=20), st.integers())


@settings(max_examples=QUERY_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    order_by=st.one_of(order_items, st.lists(order_items, max_size=4)),
    page=page_values,
    per_page=page_values,
    after=cursors,
    tamper=st.integers(min_value=0, max_value=200),
)
def test_paging_arguments_raise_only_documented_errors(
    sample: Any, order_by: Any, page: Any, per_page: Any, after: Any, tamper: int
) -> None:
    arguments = {"order_by": order_by}
    if page is not None:
        arguments["page"] = page
    if per_page is not None:
        arguments["per_page"] = per_page
    try:
        result = sample.paginate(**arguments)
        if result.next_cursor and tamper:
            # A real cursor with one character changed, or another query's.
            cursor = result.next_cursor
            position = tamper % len(cursor)
            after = cursor[:position] + ("A" if cursor[position] != "A" else "B") + cursor[position + 1 :]
        sample.paginate(order_by=order_by, after=after)
    except (db_plugins.FilterError, ValueError) as exc:
        assert str(exc) and "\n" not in str(exc), str(exc)
