"""The bad-input catalogue: every mistake a user can make gets one clear line, and nothing else happens.

Each case asserts four things (``Catalogue.expect``):

1. the right exception type (or ``dbp`` exit code), with a message of one
   line that names the problem (the key, the field, the argument, the file);
2. the database is unchanged: schema and row counts before == after (or, when
   the mistake is in the settings, no database file or directory was created);
3. nothing printed, logged (``db_plugins``, ``sqlalchemy``, ``pymongo`` and
   ``alembic`` at DEBUG) or carried by the exception chain shows the password
   -- the servers' real one (``dbp_test_pw``) or the wrong one tried;
4. for the connection cases, the error comes quickly (no hang).

Sections: settings, connecting, the query API on every engine, the ``dbp`` CLI.
"""

from __future__ import annotations

import decimal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import db_plugins
from db_plugins.config import load_settings, settings_from_dict
from tests.contract.conftest import Env, engine_env, env, event_loop_thread  # noqa: F401 - fixtures used by the API cases
from tests.migrations.project import Project, run_dbp
from tests.reliability.checks import (
    WRONG_PASSWORD,
    assert_no_secret,
    assert_one_line,
    debug_logs,
    exception_text,
    snapshot,
)
from tests.reliability.private import PASSWORD
from tests.servers import base_url, fresh_database

#: A connection error must come within this many seconds (closed ports refuse at once).
CONNECT_BOUND = 15.0


@dataclass
class Catalogue:
    """Runs one bad input and checks the four promises of this module."""

    caplog: pytest.LogCaptureFixture
    capsys: pytest.CaptureFixture[str]

    def expect(
        self,
        call: Callable[[], Any],
        error: type[BaseException],
        *names: str,
        db: Any = None,
        absent: tuple[Path, ...] = (),
        bound: float | None = None,
    ) -> BaseException:
        before = snapshot(db) if db is not None else None
        started = time.monotonic()
        with debug_logs(self.caplog):
            with pytest.raises(error) as info:
                call()
        elapsed = time.monotonic() - started
        exc = info.value
        assert_one_line(str(exc), *names)
        if db is not None:
            assert snapshot(db) == before, "the database changed"
        for path in absent:
            assert not path.exists(), f"{path} was created"
        if bound is not None:
            assert elapsed < bound, f"took {elapsed:.1f} s"
        out = self.capsys.readouterr()
        assert_no_secret(exception_text(exc), out.out, out.err, self.caplog.text)
        return exc


@pytest.fixture
def catalogue(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Catalogue:
    return Catalogue(caplog, capsys)


# -- settings -------------------------------------------------------------------------

PARTS = {"ENGINE": "postgresql", "HOST": "127.0.0.1", "USER": "dbp", "PASSWORD": PASSWORD, "PORT": 5432, "DB_NAME": "d"}
MONGO_PARTS = {"HOST": "127.0.0.1", "PORT": 27017, "USERNAME": "dbp", "PASSWORD": PASSWORD, "DATABASE": "d"}

SETTINGS_FILES = {
    "syntax error": ('DB_CONFIG = {"SQL": {"URL": "sqlite:///app.db"}\n', ["syntax error on line 1"]),
    "no DB_CONFIG": ("DATABASE = {}\n", ["defines no DB_CONFIG"]),
    "DB_CONFIG not a dict": ("DB_CONFIG = ['sqlite:///app.db']\n", ["DB_CONFIG: expected a dict", "list"]),
    "DB_CONFIG empty": ("DB_CONFIG = {}\n", ["DB_CONFIG: is empty"]),
    "raises on import": (
        f"raise RuntimeError('no postgresql://dbp:{PASSWORD}@h/d')\n",
        ["failed to load", "RuntimeError"],
    ),
    "unknown plugin key": ("DB_CONFIG = {'REDIS': {'URL': 'redis://h'}}\n", ["unknown section 'REDIS'", "MONGO, SQL"]),
}


@pytest.mark.parametrize("text, names", SETTINGS_FILES.values(), ids=SETTINGS_FILES.keys())
def test_bad_settings_file(catalogue: Catalogue, tmp_path: Path, text: str, names: list[str]) -> None:
    (tmp_path / "settings.py").write_text(text)
    catalogue.expect(lambda: load_settings(tmp_path), db_plugins.ConfigError, *names, absent=(tmp_path / "app.db",))


def test_missing_settings_file(catalogue: Catalogue, tmp_path: Path) -> None:
    catalogue.expect(
        lambda: load_settings(tmp_path / "nowhere" / "settings.py"),
        db_plugins.ConfigError,
        "settings file not found",
        "nowhere",
    )


SECTIONS = {
    "PORT not an integer": ({"SQL": {**PARTS, "PORT": "5432"}}, ["['SQL']['PORT']", "expected an integer", "str"]),
    "PORT a float": ({"SQL": {**PARTS, "PORT": 5432.0}}, ["['PORT']", "expected an integer", "float"]),
    "PORT a boolean": ({"SQL": {**PARTS, "PORT": True}}, ["['PORT']", "expected an integer"]),
    "PORT out of range": ({"SQL": {**PARTS, "PORT": 70000}}, ["['PORT']", "1-65535", "70000"]),
    "Mongo PORT not an integer": ({"MONGO": {**MONGO_PARTS, "PORT": "27017"}}, ["['MONGO']['PORT']", "integer"]),
    "unknown ENGINE": ({"SQL": {**PARTS, "ENGINE": "oracle9"}}, ["['ENGINE']", "unknown database backend 'oracle9'"]),
    "ENGINE given a URL": ({"SQL": {**PARTS, "ENGINE": "postgresql://h/d"}}, ["['ENGINE']", "backend name"]),
    "missing HOST": ({"SQL": {k: v for k, v in PARTS.items() if k != "HOST"}}, ["missing key 'HOST'"]),
    "missing DB_NAME": ({"SQL": {k: v for k, v in PARTS.items() if k != "DB_NAME"}}, ["missing key 'DB_NAME'"]),
    "Mongo without a database": ({"MONGO": {"URL": f"mongodb://dbp:{PASSWORD}@h"}}, ["['MONGO']", "no database"]),
    "Mongo HOST missing": ({"MONGO": {"DATABASE": "d", "PORT": 27017}}, ["missing key 'HOST'"]),
    "unknown SQL key": ({"SQL": {**PARTS, "COLOUR": "blue"}}, ["['SQL']", "unknown key 'COLOUR'"]),
    "unknown Mongo option": ({"MONGO": {**MONGO_PARTS, "FOO_BAR": 1}}, ["['MONGO']", "unknown key 'FOO_BAR'"]),
    "Mongo option of the wrong type": (
        {"MONGO": {**MONGO_PARTS, "SERVER_SELECTION_TIMEOUT_MS": "soon"}},
        ["['SERVER_SELECTION_TIMEOUT_MS']", "integer"],
    ),
    "PASSWORD not a string": ({"SQL": {**PARTS, "PASSWORD": 123456}}, ["['PASSWORD']", "expected a string", "***"]),
    "section not a dict": ({"SQL": f"postgresql://dbp:{PASSWORD}@h/d"}, ["DB_CONFIG['SQL']", "expected a dict"]),
    "section is None": ({"MONGO": None}, ["DB_CONFIG['MONGO']", "expected a dict", "NoneType"]),
    "URL and parts": ({"SQL": {"URL": "sqlite://", "HOST": "h"}}, ["['SQL']", "either URL or ENGINE"]),
    "not a URL": ({"SQL": {"URL": f"postgresql://dbp:{PASSWORD}@h:port/d"}}, ["['URL']", "not a valid SQLAlchemy URL"]),
    "bad Mongo URL": ({"MONGO": {"URL": f"mongodb://dbp:{PASSWORD}@h:port/d"}}, ["['URL']", "not a valid MongoDB URL"]),
    "ENGINE_OPTIONS not a dict": ({"SQL": {"URL": "sqlite://", "ENGINE_OPTIONS": [1]}}, ["['ENGINE_OPTIONS']", "dict"]),
    "bad Mongo DATABASE": ({"MONGO": {**MONGO_PARTS, "DATABASE": "a.b"}}, ["['DATABASE']", "'a.b'"]),
    "section name not a string": ({1: {"URL": "sqlite://"}}, ["unknown section 1"]),
}


@pytest.mark.parametrize("db_config, names", SECTIONS.values(), ids=SECTIONS.keys())
def test_bad_section(catalogue: Catalogue, tmp_path: Path, db_config: dict[Any, Any], names: list[str]) -> None:
    catalogue.expect(
        lambda: settings_from_dict(db_config, base_dir=tmp_path),
        db_plugins.ConfigError,
        *names,
        absent=(tmp_path / "migrations",),
    )


def test_models_that_cannot_be_imported(catalogue: Catalogue, tmp_path: Path) -> None:
    db_file = tmp_path / "app.db"
    with db_plugins.connect({"URL": f"sqlite:///{db_file}", "MODELS": "no_such_models_module"}) as db:
        catalogue.expect(
            db.create_db, db_plugins.ConfigError, "['MODELS']", "cannot import 'no_such_models_module'", db=db
        )


BAD_ENGINE_OPTIONS = {
    "unknown create_engine argument": {"bogus_option": 1},
    "pool_size not a number": {"pool_size": "big"},
    "unknown driver argument": {"connect_args": {"bogus_option": 1}},
}


@pytest.mark.parametrize("engine", ["sqlite", "postgresql", "mysql"])
@pytest.mark.parametrize("options", BAD_ENGINE_OPTIONS.values(), ids=BAD_ENGINE_OPTIONS.keys())
def test_bad_engine_options(catalogue: Catalogue, tmp_path: Path, engine: str, options: dict[str, Any]) -> None:
    """A mistake in ENGINE_OPTIONS is a configuration error, not a connection failure or a driver crash."""
    with fresh_database(engine, tmp_path) as url:
        names = ["ENGINE_OPTIONS", "bogus_option"] if "bogus_option" in str(options) else ["ENGINE_OPTIONS"]
        catalogue.expect(
            lambda: db_plugins.connect({"URL": url, "ENGINE_OPTIONS": options}), db_plugins.ConfigError, *names
        )


def test_url_that_no_plugin_serves(catalogue: Catalogue) -> None:
    catalogue.expect(
        lambda: db_plugins.connect(f"redis://dbp:{PASSWORD}@localhost/0"),
        db_plugins.ConfigError,
        "no plugin serves",
        'plugin="MONGO"|"SQL"',
    )


def test_connect_to_something_that_is_not_a_config(catalogue: Catalogue) -> None:
    catalogue.expect(lambda: db_plugins.connect(42), db_plugins.ConfigError, "expected a URL or a DB_CONFIG", "int")


# -- connecting -----------------------------------------------------------------------------


def _server_url(engine: str, **parts: Any) -> str:
    """The shared server's URL for ``engine`` with ``parts`` (password, port, database) replaced."""
    import sqlalchemy as sa

    url = sa.make_url(base_url(engine))
    return url.set(**parts).render_as_string(hide_password=False)


@pytest.mark.parametrize("engine", ["postgresql", "mysql", "mongodb"])
def test_unreachable_host(catalogue: Catalogue, engine: str) -> None:
    if engine == "mongodb":
        section = {"URL": f"mongodb://dbp:{PASSWORD}@127.0.0.1:9/app", "SERVER_SELECTION_TIMEOUT_MS": 1500}
    else:
        section = {"URL": _server_url(engine, port=9)}  # the discard port: nothing listens there
    catalogue.expect(
        lambda: db_plugins.connect(section), db_plugins.ConnectionError, "127.0.0.1", ":9", bound=CONNECT_BOUND
    )


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_wrong_password(catalogue: Catalogue, tmp_path: Path, engine: str) -> None:
    with fresh_database(engine, tmp_path) as url:
        with db_plugins.connect(url) as good:
            good.create_db()  # something to keep unchanged
            exc = catalogue.expect(
                lambda: db_plugins.connect(_wrong_password(url)),
                db_plugins.ConnectionError,
                "dbp:***@",
                db=good,
                bound=CONNECT_BOUND,
            )
    assert any(word in str(exc) for word in ("password authentication failed", "Access denied"))


def _wrong_password(url: str) -> str:
    import sqlalchemy as sa

    return sa.make_url(url).set(password=WRONG_PASSWORD).render_as_string(hide_password=False)


def test_wrong_password_on_mongodb(catalogue: Catalogue) -> None:
    """FerretDB runs without authentication: any credentials are refused at connect time."""
    url = base_url("mongodb").replace("mongodb://", f"mongodb://dbp:{WRONG_PASSWORD}@")
    catalogue.expect(lambda: db_plugins.connect(url), db_plugins.ConnectionError, "dbp:***@", bound=CONNECT_BOUND)


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_database_that_does_not_exist(catalogue: Catalogue, engine: str) -> None:
    import sqlalchemy as sa

    name = "dbp_no_such_database_x"
    catalogue.expect(
        lambda: db_plugins.connect(_server_url(engine, database=name)),
        db_plugins.ConnectionError,
        name,
        bound=CONNECT_BOUND,
    )
    admin = sa.create_engine(base_url(engine))
    try:
        with admin.connect() as connection:
            found = sa.inspect(connection).get_schema_names()
    finally:
        admin.dispose()
    assert name not in found  # not created on the way


def test_sqlite_file_in_a_missing_directory(catalogue: Catalogue, tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    catalogue.expect(
        lambda: db_plugins.connect(f"sqlite:///{missing / 'app.db'}"),
        db_plugins.ConnectionError,
        "unable to open database file",
        str(missing),
        absent=(tmp_path / "no",),
    )


# -- the query API, on every engine -------------------------------------------------------


@pytest.fixture
def stocked(env: Env) -> Iterator[Env]:  # noqa: F811 - env is the contract fixture
    """The engine's contract tables with a few rows (so "unchanged" means something)."""
    env.q("Item").bulk_insert([{"oid": f"ZTF{i}", "n": i, "mag": 15.0 + i, "name": f"star {i}"} for i in range(5)])
    env.q("Event").insert({"oid": "ZTF0", "value": 1.0})
    yield env


def test_insert_unknown_field(catalogue: Catalogue, stocked: Env) -> None:
    q = stocked.q("Item")
    catalogue.expect(
        lambda: q.insert({"oid": "X", "colour": "red"}), db_plugins.ValidationError, "'colour'", db=stocked.db
    )


@pytest.mark.parametrize(
    "row, field",
    [({"oid": "X", "n": "three"}, "'n'"), ({"oid": 7}, "'oid'"), ({"oid": "X", "flag": "yes"}, "'flag'")],
    ids=["str for int", "int for str", "str for bool"],
)
def test_insert_wrong_value_type(catalogue: Catalogue, stocked: Env, row: dict[str, Any], field: str) -> None:
    q = stocked.q("Item")
    catalogue.expect(lambda: q.insert(row), db_plugins.ValidationError, field, "Item", db=stocked.db)


def test_integer_field_refuses_a_fraction(catalogue: Catalogue, stocked: Env) -> None:
    """1.5 for an integer: refused on every engine, by insert, bulk_insert and update alike."""
    q = stocked.q("Item")
    row = q.find_one({"oid": "ZTF1"})
    for call in (
        lambda: q.insert({"oid": "X", "n": 1.5}),
        lambda: q.bulk_insert([{"oid": "X", "n": 2}, {"oid": "Y", "n": 1.5}]),
        lambda: q.update(row, {"n": 0.5}),
        lambda: q.update_many({"oid": "ZTF1"}, {"n": decimal.Decimal("2.5")}),
    ):
        catalogue.expect(call, db_plugins.ValidationError, "'n'", "integer", "whole number", db=stocked.db)


def test_integer_field_takes_a_whole_float_as_an_int(stocked: Env) -> None:
    """3.0 (as CSV readers and pandas give integers) is stored, and read back, as the int 3."""
    q = stocked.q("Item")
    q.insert({"oid": "X", "n": 3.0})
    q.bulk_insert([{"oid": "Y", "n": decimal.Decimal("4")}])
    for oid, expected in (("X", 3), ("Y", 4)):
        row = q.find_one({"oid": oid})
        value = row.n if stocked.is_sql else row["n"]
        assert (type(value), value) == (int, expected)


def test_update_with_a_wrong_value_type(catalogue: Catalogue, stocked: Env) -> None:
    q = stocked.q("Item")
    row = q.find_one({"oid": "ZTF1"})
    catalogue.expect(lambda: q.update(row, {"mag": "bright"}), db_plugins.ValidationError, "'mag'", db=stocked.db)
    catalogue.expect(
        lambda: q.update_many({"oid": "ZTF1"}, {"colour": 1}), db_plugins.ValidationError, "'colour'", db=stocked.db
    )


def test_integer_beyond_64_bits(catalogue: Catalogue, stocked: Env) -> None:
    q = stocked.q("Item")
    catalogue.expect(lambda: q.insert({"oid": "X", "n": 2**70}), db_plugins.ValidationError, "'n'", db=stocked.db)


def test_string_longer_than_its_column(catalogue: Catalogue, stocked: Env) -> None:
    if not stocked.is_sql:
        pytest.skip("Mongo fields have no length")
    q = stocked.q("Item")
    row = q.find_one({"oid": "ZTF1"})
    for call in (
        lambda: q.insert({"oid": "X" * 65}),
        lambda: q.bulk_insert([{"oid": "X"}, {"oid": "Y" * 65}]),
        lambda: q.update(row, {"name": "Z" * 201}),
    ):
        catalogue.expect(call, db_plugins.ValidationError, "too long", db=stocked.db)
    q.insert({"oid": "\u00e9" * 64})  # the limit counts characters, not bytes


#: Floats each engine cannot store (SQLite reads NaN back as NULL; MariaDB and FerretDB 1.x have neither).
REFUSED_FLOATS = {"sqlite": {"nan"}, "postgresql": set(), "mysql": {"nan", "inf"}, "mongodb": {"nan", "inf"},
                  "mongomock": set(), "duckdb": set()}  # fmt: skip


@pytest.mark.parametrize("name", ["nan", "inf"])
def test_non_finite_floats(catalogue: Catalogue, stocked: Env, name: str) -> None:
    """Refused (writes: ValidationError, filters: FilterError) where the engine cannot store them, else kept."""
    q = stocked.q("Item")
    value = float(name)
    if name in REFUSED_FLOATS[stocked.engine]:
        for call in (lambda: q.insert({"oid": "X", "mag": value}), lambda: q.bulk_insert([{"oid": "X", "mag": value}])):
            catalogue.expect(call, db_plugins.ValidationError, "'mag'", name, db=stocked.db)
        catalogue.expect(lambda: q.count({"mag": value}), db_plugins.FilterError, "'mag'", name, db=stocked.db)
        return
    q.insert({"oid": "X", "mag": value})
    q.bulk_insert([{"oid": "Y", "mag": -value}])
    stored = [
        getattr(row, "mag", None) if stocked.is_sql else row.get("mag")
        for row in q.find_all({"oid": {"$in": ["X", "Y"]}}, paginate=False)
    ]
    assert [repr(v) for v in stored] == [repr(value), repr(-value)]  # (nan != nan: compare their reprs)
    if name == "inf":
        assert q.count({"mag": value}) == 1 and q.count({"mag": {"$lt": value}}) == 6


BAD_FILTERS = {
    "unknown field": ({"colour": "red"}, "unknown field 'colour'"),
    "a list": ([{"oid": "ZTF1"}], "expected a dict, got list"),
    "a string": ("oid = 'ZTF1'", "expected a dict, got str"),
    "$where": ({"$where": "this.n > 1"}, "unknown operator '$where'"),
    "operator in place of a field value": ({"oid": {"$regex": ".*"}}, "unknown operator '$regex'"),
    "$in of a string": ({"oid": {"$in": "ZTF1"}}, "['$in']: expected a list"),
    "$and of a dict": ({"$and": {"oid": "ZTF1"}}, "['$and']: expected a non-empty list"),
    "empty $or": ({"$or": []}, "['$or']: expected a non-empty list"),
    "$exists of a string": ({"n": {"$exists": "yes"}}, "['$exists']: expected true or false"),
    "$gt None": ({"n": {"$gt": None}}, "['$gt']: expected a non-null value"),
    "empty operator dict": ({"n": {}}, "empty operator dict"),
    "nested document": ({"oid": {"a": 1}}, "expected a value or an operator dict"),
    "wrong value type": ({"n": "three"}, "expected a number for field 'n'"),
    "dotted path": ({"oid.x": 1}, "unknown field 'oid.x'"),
    "non-string key": ({1: 2}, "keys must be strings"),
}


@pytest.mark.parametrize("filter_by, names", BAD_FILTERS.values(), ids=BAD_FILTERS.keys())
def test_bad_filter(catalogue: Catalogue, stocked: Env, filter_by: Any, names: str) -> None:
    q = stocked.q("Item")
    for call in (lambda: q.count(filter_by), lambda: q.delete(filter_by), lambda: q.update_many(filter_by, {"n": 0})):
        catalogue.expect(call, db_plugins.FilterError, names, db=stocked.db)


def test_bad_order_by(catalogue: Catalogue, stocked: Env) -> None:
    q = stocked.q("Item")
    catalogue.expect(lambda: q.find_one(order_by="-colour"), db_plugins.FilterError, "unknown field 'colour'")
    catalogue.expect(lambda: q.paginate(order_by=["n", "n"]), db_plugins.FilterError, "'n' named twice")


@pytest.mark.parametrize(
    "arguments, name",
    [
        ({"page": 0}, "page"),
        ({"per_page": 0}, "per_page"),
        ({"page": "2"}, "page"),
        ({"max_results": -1}, "max_results"),
    ],
    ids=["page=0", "per_page=0", "page as str", "max_results<1"],
)
def test_bad_page_arguments(catalogue: Catalogue, stocked: Env, arguments: dict[str, Any], name: str) -> None:
    catalogue.expect(
        lambda: stocked.q("Item").paginate(**arguments), ValueError, f"{name}: expected an integer >= 1", db=stocked.db
    )


def test_tampered_cursors(catalogue: Catalogue, stocked: Env) -> None:
    q = stocked.q("Item")
    cursor = q.paginate(per_page=2, order_by="n").next_cursor
    assert cursor
    flipped = cursor[:5] + ("A" if cursor[5] != "A" else "B") + cursor[6:]
    for bad, why in [
        (flipped, "tampered"),
        (cursor[:-3], "invalid cursor"),
        ("not a cursor at all!", "invalid cursor"),
        (12345, "expected a string"),
    ]:
        catalogue.expect(lambda b=bad: q.paginate(order_by="n", after=b), ValueError, why, db=stocked.db)
    catalogue.expect(lambda: q.paginate(order_by="-n", after=cursor), ValueError, "another model or ordering")
    catalogue.expect(lambda: stocked.q("Event").paginate(after=cursor), ValueError, "another model or ordering")


def test_update_of_a_deleted_row(catalogue: Catalogue, stocked: Env) -> None:
    q = stocked.q("Item")
    row = q.find_one({"oid": "ZTF3"})
    assert q.delete({"oid": "ZTF3"}) == 1
    catalogue.expect(lambda: q.update(row, {"n": 30}), db_plugins.NotFoundError, "ZTF3", "deleted", db=stocked.db)
    assert q.find_one({"oid": "ZTF3"}) is None  # not resurrected


def test_object_of_another_model(catalogue: Catalogue, stocked: Env) -> None:
    q = stocked.q("Item")
    event = stocked.q("Event").find_one()
    for call in (lambda: q.insert(event), lambda: q.update(event, {"n": 1}), lambda: q.bulk_insert([event])):
        catalogue.expect(call, db_plugins.ValidationError, "expected a Item instance", "Event", db=stocked.db)


def test_bulk_insert_with_one_bad_row_writes_nothing(catalogue: Catalogue, stocked: Env) -> None:
    rows = [{"oid": f"NEW{i}", "n": i} for i in range(50)]
    rows[37] = {"oid": "NEW37", "n": "thirty-seven"}
    q = stocked.q("Item")
    catalogue.expect(lambda: q.bulk_insert(rows), db_plugins.ValidationError, "'n'", db=stocked.db)


def test_bulk_insert_of_something_that_is_not_rows(catalogue: Catalogue, stocked: Env) -> None:
    q = stocked.q("Item")
    catalogue.expect(lambda: q.bulk_insert(None), db_plugins.ValidationError, "bulk_insert", "NoneType", db=stocked.db)
    catalogue.expect(lambda: q.bulk_insert([3]), db_plugins.ValidationError, "bulk_insert", "int", db=stocked.db)
    catalogue.expect(
        lambda: q.bulk_insert([{"oid": "A"}], on_conflict="merge"), ValueError, "on_conflict", "'merge'", db=stocked.db
    )


def test_refused_whole_table_writes(catalogue: Catalogue, stocked: Env) -> None:
    q = stocked.q("Item")
    catalogue.expect(lambda: q.delete({}), ValueError, "refusing an empty filter_by", "all=True", db=stocked.db)
    catalogue.expect(lambda: q.update_many({"oid": "ZTF1"}, {}), ValueError, "attrs", db=stocked.db)
    catalogue.expect(lambda: q.get_or_create({}), db_plugins.FilterError, "get_or_create", db=stocked.db)


# -- the dbp command ------------------------------------------------------------------------

CLI_ENGINES = ["sqlite", "postgresql", "mysql", "mongodb"]


@pytest.fixture(params=CLI_ENGINES)
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Project]:
    from tests.migrations import models

    with fresh_database(request.param, tmp_path) as url:
        root = tmp_path / "project"
        root.mkdir()
        project = Project(root, request.param, url, runner="cli")
        project.write_settings()
        project.write_models(models.SQL_V1 if project.is_sql else models.MONGO_V1)
        yield project


def expect_cli(catalogue: Catalogue, project: Project, args: list[str], *names: str) -> str:
    """``dbp ARGS`` fails with exit 1 and one line naming the problem, and leaves the database unchanged."""
    with db_plugins.connect(project.url) as db:
        before = snapshot(db)
        with debug_logs(catalogue.caplog):
            outcome = project.dbp(*args)
            verbose = project.dbp("-v", *args)
        assert snapshot(db) == before, "the database changed"
    assert outcome.exit_code == 1 and outcome.stdout == "", outcome
    [line] = outcome.stderr.strip().splitlines()
    assert line.startswith("Error: ") and "Traceback" not in outcome.stderr
    assert_one_line(line, *names)
    assert verbose.exit_code == 1 and verbose.stderr.strip().splitlines()[-1] == line
    assert_no_secret(outcome.output, verbose.output, catalogue.caplog.text)
    return line


def test_cli_unknown_revision(catalogue: Catalogue, project: Project) -> None:
    project.ok("initdb")
    expect_cli(catalogue, project, ["migrate", "feedfacecafe"], "'feedfacecafe'")
    expect_cli(catalogue, project, ["downgrade", "feedfacecafe"], "'feedfacecafe'")


def test_cli_missing_migrations_directory(catalogue: Catalogue, project: Project) -> None:
    for command in (["migrate"], ["current"], ["make_migrations"]):
        expect_cli(catalogue, project, command, "no migrations directory", str(project.migrations_dir))


def test_cli_corrupt_revision_file(catalogue: Catalogue, project: Project) -> None:
    project.ok("initdb")
    [initial] = project.revisions()
    broken = project.versions_dir / "0badc0ffee00_broken.py"
    broken.write_text(
        f'"""broken"""\nrevision = "0badc0ffee00"\ndown_revision = "{initial.name.split("_", 1)[0]}"\n'
        "def upgrade(:\n    pass\n"
    )
    expect_cli(catalogue, project, ["migrate"], "0badc0ffee00_broken.py")


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
@pytest.mark.parametrize("runner", ["cli", "process"])
def test_cli_wrong_password(catalogue: Catalogue, tmp_path: Path, engine: str, runner: str) -> None:
    with fresh_database(engine, tmp_path) as url:
        (tmp_path / "settings.py").write_text(f"DB_CONFIG = {{'SQL': {{'URL': {_wrong_password(url)!r}}}}}\n")
        with debug_logs(catalogue.caplog):
            outcome = run_dbp(["initdb"], runner=runner, cwd=tmp_path)
            verbose = run_dbp(["-v", "migrate"], runner=runner, cwd=tmp_path)
    assert outcome.exit_code == 1 and verbose.exit_code == 1
    [line] = outcome.stderr.strip().splitlines()
    assert_one_line(line, "dbp:***@")
    assert not (tmp_path / "migrations").exists()
    assert_no_secret(outcome.output, verbose.output, catalogue.caplog.text)
