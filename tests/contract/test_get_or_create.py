"""get_or_create, including many concurrent callers on one key."""

from __future__ import annotations

import datetime as dt
import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import db_plugins

WORKERS = 8


def test_creates_then_gets(env):
    q = env.q("Item")
    item, created = q.get_or_create({"oid": "A"}, mag=1.5)
    assert created is True and (item.oid, item.mag) == ("A", 1.5)
    again, created = q.get_or_create({"oid": "A"}, mag=9.9)
    assert created is False and again.mag == 1.5
    assert q.count() == 1


def test_on_a_non_key_field(env):
    q = env.q("Event")
    event, created = q.get_or_create({"oid": "X"}, value=2.0)
    assert created is True
    again, created = q.get_or_create({"oid": "X"})
    assert created is False
    assert getattr(again, env.key("Event")) == getattr(event, env.key("Event"))


def test_a_taken_key_with_other_values_is_a_conflict(env):
    """The filter names the key of a row whose other values differ: nothing to get, nothing to create."""
    q = env.q("Item")
    q.insert({"oid": "A", "mag": 2.0})
    with pytest.raises(db_plugins.DuplicateKeyError, match="Item"):
        q.get_or_create({"oid": "A", "mag": 1.0})
    assert q.count() == 1 and q.find_one({"oid": "A"}).mag == 2.0


def test_a_miss_stores_what_insert_stores(env):
    """The row a miss creates reads back as the same row inserted would: the values sent
    (a datetime, a big int, a float, a string beyond ASCII) and the field defaults."""
    q = env.q("Sample")
    q.delete(all=True)
    values = {"i": 2**63 - 1, "f": 0.1, "s": "naïve ☃", "b": True, "t": dt.datetime(9999, 12, 31, 23, 59, 59, 999000)}
    made, created = q.get_or_create({"id": 1}, **values)
    q.insert({"id": 2, **values})
    created_row, inserted_row = q.find_one({"id": 1}), q.find_one({"id": 2})
    assert created is True
    for field in values:
        assert getattr(made, field) == getattr(created_row, field) == getattr(inserted_row, field), field
    item, created = env.q("Item").get_or_create({"oid": "D"}, mag=2.5)
    assert created and item.n == 0 and env.q("Item").find_one({"oid": "D"}).n == 0  # the field's default
    q.delete(all=True)


def test_a_conflict_on_another_unique_key(env):
    """The filter's key is free but another unique field's value is taken: nothing is created."""
    q = env.q("TwoKeys")
    q.insert({"key": "a", "code": "c"})
    with pytest.raises(db_plugins.DuplicateKeyError, match="TwoKeys"):
        q.get_or_create({"key": "b"}, code="c")
    found, created = q.get_or_create({"key": "a"}, code="c")
    assert not created and found.code == "c"
    assert q.count() == 1


def test_bad_filter(env):
    with pytest.raises(db_plugins.FilterError):
        env.q("Item").get_or_create({})
    with pytest.raises(db_plugins.FilterError):
        env.q("Item").get_or_create({"nope": 1})
    assert env.q("Item").count() == 0


def _worker(config, model_module, model_name, filter_by, api="sync"):
    """One process's get_or_create, on the API the contract runs on."""
    import importlib

    model = getattr(importlib.import_module(model_module), model_name)
    if api == "async":
        import asyncio

        async def main():
            async with await db_plugins.connect_async(config) as db:
                instance, created = await db.query(model).get_or_create(filter_by)
                return str(getattr(instance, db.query(model).primary_key[0])), created

        return asyncio.run(main())
    with db_plugins.connect(config) as db:
        instance, created = db.query(model).get_or_create(filter_by)
        key = db.query(model).primary_key[0]
        return str(getattr(instance, key)), created


def _module(env):
    return "tests.contract.models_sql" if env.is_sql else "tests.contract.models_mongo"


@pytest.mark.parametrize("model_name", ["Item", "Event"])
def test_concurrent_threads_get_one_row(env, model_name):
    """One connection shared by 8 threads: keyed by the primary key (Item) or not (Event)."""
    q = env.q(model_name)

    def call(_):
        instance, created = q.get_or_create({"oid": "HOT"})
        return str(getattr(instance, q.primary_key[0])), created

    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(call, range(WORKERS)))
    assert len({key for key, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert q.count() == 1


@pytest.mark.slow
@pytest.mark.parametrize("model_name", ["Item", "Event"])
def test_concurrent_processes_get_one_row(env, model_name):
    """8 processes, each with its own connection (an asyncio one on the async runs)."""
    if env.engine == "mongomock":
        pytest.skip("mongomock:// is in-process: another process sees another database")
    if env.is_sql and env.db.features.one_process:
        pytest.skip(f"{env.engine} opens its database in one process at a time")
    context = multiprocessing.get_context("spawn")
    with context.Pool(WORKERS) as pool:
        results = pool.starmap(_worker, [(env.config, _module(env), model_name, {"oid": "HOT"}, env.api)] * WORKERS)
    assert len({key for key, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert env.q(model_name).count() == 1


class _Base(DeclarativeBase):
    pass


class Tagged(_Base):
    """Unique in four ways: the key, a unique column, a unique constraint and a unique index
    (``e`` only where positive: not a key)."""

    __tablename__ = "tagged"
    __table_args__ = (
        sa.UniqueConstraint("a", "b"),
        sa.Index("ix_pair", "c", "d", unique=True),
        sa.Index("ix_partial", "e", unique=True, sqlite_where=sa.text("e > 0"), postgresql_where=sa.text("e > 0")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(8), unique=True)
    a: Mapped[int] = mapped_column()
    b: Mapped[int] = mapped_column()
    c: Mapped[int] = mapped_column()
    d: Mapped[int] = mapped_column()
    e: Mapped[int] = mapped_column(index=True)


def test_unique_keys_sql_tables_declare():
    """get_or_create inserts without a lock when the filter covers one of these."""
    with db_plugins.connect("sqlite://") as db:
        _Base.metadata.create_all(db.engine)
        q = db.query(Tagged)
        assert sorted(map(sorted, q._unique_keys)) == [["a", "b"], ["c", "d"], ["code"], ["id"]]
        assert q._is_unique({"code": "x", "e": 1}) and q._is_unique({"a": 1, "b": 2})
        assert not q._is_unique({"a": 1, "e": 2}) and not q._is_unique({"c": 1}) and not q._is_unique({"e": 1})
        row, created = q.get_or_create({"a": 1, "b": 2}, code="x", c=1, d=1, e=1)
        again, created_again = q.get_or_create({"b": 2, "a": 1})
        assert created and not created_again and again.id == row.id
        with pytest.raises(db_plugins.DuplicateKeyError, match="Tagged"):
            q.get_or_create({"a": 5, "b": 5}, code="x", c=2, d=2, e=2)  # code is taken
        assert q.count() == 1
