"""The SQL dialect modules: the lookup, the generic dialect, features as data (issue 14)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mssql, postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.schema import CreateTable

import db_plugins
from db_plugins.db.base import BaseFeatures
from db_plugins.db.mongo.features import MongoFeatures
from db_plugins.db.sql.dialects import dialect_for
from db_plugins.db.sql.dialects.base import SQLFeatures, SQLOperations
from db_plugins.db.sql.dialects.sqlite import SQLiteFeatures, SQLiteOperations
from tests.servers import SQL_ENGINES, fresh_database

ROOT = Path(__file__).resolve().parent.parent


def test_an_unknown_dialect_gets_the_generic_one():
    features, ops = dialect_for(mssql.pymssql.dialect())
    assert type(features) is SQLFeatures and type(ops) is SQLOperations
    assert features.name == "mssql" and ops.features is features
    assert features.upsert is None and features.transactions and features.atomic_bulk


def test_known_dialects_get_their_module():
    features, ops = dialect_for(sqlite.pysqlite.dialect(), sa.make_url("sqlite:///x.db"))
    assert isinstance(features, SQLiteFeatures) and isinstance(ops, SQLiteOperations)


def test_every_plugins_features_derive_from_the_contract():
    assert issubclass(SQLFeatures, BaseFeatures) and issubclass(MongoFeatures, BaseFeatures)
    with db_plugins.connect("sqlite://") as db:
        assert isinstance(db.features, BaseFeatures) and db.ops.features is db.features


def test_sqlite_streams_are_decided_from_the_url_not_by_engine_options():
    dialect = sqlite.pysqlite.dialect()
    for url, streams in (("sqlite://", False), ("sqlite:///:memory:", False), ("sqlite:///app.db", True)):
        features, ops = dialect_for(dialect, sa.make_url(url))
        assert features.stream_cursor is streams
        ops.engine_options(sa.make_url(url))
        assert features.stream_cursor is streams  # engine_options changes no flag


def test_features_hold_no_behaviour():
    # Data only: a features class defines no method of its own beyond __init__/__repr__.
    from db_plugins.db.sql import dialects

    for features_class, _ops in dialects._BY_NAME.values():
        for klass in features_class.__mro__:
            if klass is object:
                continue
            methods = {n for n, v in vars(klass).items() if callable(v) and not isinstance(v, type)}
            assert methods <= {"__init__", "__repr__"}, (klass, methods)


def test_sequence_keys_leave_the_models_alone():
    metadata = sa.MetaData()
    table = sa.Table("t", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("x", sa.String(5)))
    features, ops = dialect_for(postgresql.psycopg2.dialect())
    features.sequence_keys = True  # this instance only
    copy = ops.schema(metadata)
    ddl = str(CreateTable(copy.tables["t"]).compile(dialect=postgresql.psycopg2.dialect()))
    assert "SERIAL" not in ddl and "nextval('t_id_seq')" in ddl
    assert "SERIAL" in str(CreateTable(table).compile(dialect=postgresql.psycopg2.dialect()))
    assert dialect_for(postgresql.psycopg2.dialect())[1].schema(metadata) is metadata


def test_no_dialect_name_branch_outside_the_dialect_modules():
    pattern = re.compile(r"get_backend_name\(\)|dialect\.name\b")
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / "db_plugins").rglob("*.py")
        if "dialects" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []


@pytest.mark.parametrize("engine", SQL_ENGINES)
def test_a_row_giving_no_column_upserts(engine, tmp_path):
    """SQLite's upsert has no DEFAULT VALUES form: such a row names the generated key instead."""

    class Base(DeclarativeBase):
        pass

    class Bare(Base):
        __tablename__ = "bare"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str | None] = mapped_column(sa.String(20))

    with fresh_database(engine, tmp_path) as url, db_plugins.connect(url) as db:
        Base.metadata.create_all(db.engine)
        # (A key the rows give is not drawn from the sequence: 100, far from the generated ones.)
        assert db.query(Bare).bulk_insert([{"id": 100}, {}], on_conflict="ignore", conflict_on="id") == 2
        assert db.query(Bare).bulk_insert([{"id": 100}], on_conflict="ignore") == 0
        assert len([b.id for b in db.query(Bare).find_all(paginate=False)]) == 2


class _Refusing:
    """An admin engine whose DROP is refused ``times`` times as PostgreSQL refuses one while an
    autovacuum worker is on the database (SQLSTATE 42501), then done."""

    def __init__(self, times: int, pgcode: str = "42501") -> None:
        self.left, self.pgcode, self.sent = times, pgcode, []

    def connect(self):
        import contextlib

        return contextlib.nullcontext(self)

    def exec_driver_sql(self, sql: str) -> None:
        self.sent.append(sql)
        if self.left:
            self.left -= 1
            orig = type("InsufficientPrivilege", (Exception,), {"pgcode": self.pgcode})("must be a member of the role")
            raise sa.exc.ProgrammingError(sql, {}, orig)


def test_postgresql_drops_a_database_once_autovacuum_lets_it_go(monkeypatch):
    from db_plugins.db.sql.dialects import postgresql as pg

    monkeypatch.setattr(pg.time, "sleep", lambda seconds: None)
    _features, ops = dialect_for(postgresql.psycopg2.dialect(), sa.make_url("postgresql://h/d"))
    admin = _Refusing(times=3)
    ops.drop_database(admin, "gone")
    assert admin.sent == ['DROP DATABASE IF EXISTS "gone" WITH (FORCE)'] * 4
    # Refused for ever, or for another reason: the error is raised (not retried without end).
    with pytest.raises(sa.exc.ProgrammingError):
        ops.drop_database(_Refusing(times=100), "gone")
    other = _Refusing(times=1, pgcode="55006")
    with pytest.raises(sa.exc.ProgrammingError):
        ops.drop_database(other, "gone")
    assert len(other.sent) == 1


def test_mysql_binary_string_comparisons_keep_statements_cacheable():
    """``CONVERT(x USING utf8mb4)`` (MySQL's exact string order and equality) has a cache key: a
    statement holding one is compiled once per shape, not at every call."""
    from sqlalchemy.dialects import mysql

    ops = dialect_for(mysql.pymysql.dialect())[1]
    table = sa.table("t", sa.column("a", sa.String), sa.column("b", sa.String))

    def statement(column: str, value: str) -> sa.Select:
        return (
            sa.select(table)
            .where(ops.string_equals(table.c[column], value))
            .order_by(ops.binary_string(table.c[column]))
        )

    first, same, other = (statement(*args)._generate_cache_key() for args in (("a", "x"), ("a", "y"), ("b", "x")))
    assert first is not None and first.key == same.key and first.key != other.key
    assert [p.value for p in same.bindparams] == ["y", "y"]


def test_asyncpg_reads_with_its_own_codecs_only_where_they_agree_with_the_connections():
    """asyncpg's C codecs read a statement when none of its types has a codec of ours or
    SQLAlchemy's that differs (JSON, INET; a timestamptz column, read as a naive 'infinity')."""
    from sqlalchemy.dialects.postgresql import INET, JSONB
    from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

    from db_plugins.db.sql.dialects.postgresql import _natively_readable
    from db_plugins.db.sql.execute import Compiled

    t = sa.table(
        "t",
        sa.column("id", sa.BigInteger),
        sa.column("name", sa.String(10)),
        sa.column("at", sa.DateTime),
        sa.column("at_tz", sa.DateTime(timezone=True)),
        sa.column("doc", JSONB),
        sa.column("ip", INET),
        sa.column("amount", sa.Numeric(12, 4)),
    )

    def native(stmt: sa.Select) -> bool:
        compiled = Compiled.of(stmt, asyncpg_dialect())
        assert compiled is not None
        return _natively_readable(compiled)

    plain = sa.select(t.c.id, t.c.name, t.c.at, t.c.amount)
    assert native(plain.where(t.c.at == sa.bindparam("p", type_=sa.DateTime)).limit(5))
    assert native(plain.where(t.c.at_tz < sa.bindparam("p", type_=sa.DateTime(timezone=True))))  # a parameter only
    assert native(sa.select(sa.func.count()).select_from(t))
    assert not native(sa.select(t.c.id, t.c.at_tz))
    assert not native(sa.select(t.c.id, t.c.doc))
    assert not native(sa.select(t.c.id).where(t.c.ip == sa.bindparam("p", type_=INET)))
