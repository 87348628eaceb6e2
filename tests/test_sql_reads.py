"""SQL reads outside a transaction: plain models skip the ORM session, and nothing shows it.

The instances a sessionless read builds must be the ones the ORM path gives:
detached, with their identity, every column loaded, and the same errors on a
lazy relationship. Models the ORM loads more for (eager relationships, load
hooks, expression columns) must keep the ORM path.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event, orm
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

import db_plugins
from db_plugins.db.sql.rows import InstanceLoader
from tests.servers import SQL_ENGINES, fresh_database


class Base(DeclarativeBase):
    pass


class Parent(Base):
    __tablename__ = "parents"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str | None] = mapped_column(sa.String(20))
    children: Mapped[list[Child]] = relationship(back_populates="parent")


class Child(Base):
    __tablename__ = "children"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    parent_id: Mapped[int] = mapped_column(sa.ForeignKey("parents.id"))
    parent: Mapped[Parent] = relationship(back_populates="children", lazy="joined")


class Hooked(Base):
    __tablename__ = "hooked"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str | None] = mapped_column(sa.String(20))

    @orm.reconstructor
    def _loaded(self) -> None:
        self.seen = True


class Computed(Base):
    __tablename__ = "computed"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column()
    double: Mapped[int] = orm.column_property(sa.literal_column("2") * n)


@pytest.fixture
def db(tmp_path):
    with db_plugins.connect({"URL": f"sqlite:///{tmp_path / 'reads.db'}"}) as conn:
        Base.metadata.create_all(conn.engine)
        yield conn


def test_which_models_read_without_a_session(db):
    assert db.query(Parent)._loader is not None
    assert db.query(Child)._loader is None  # an eager relationship
    assert db.query(Hooked)._loader is None  # a reconstructor
    assert db.query(Computed)._loader is None  # an expression column
    mapper = sa.inspect(Parent)
    assert InstanceLoader.for_mapper(mapper, Parent.__table__, {"id": Parent.__table__.c.id}) is None


def test_sessionless_instances_are_what_the_orm_gives(db):
    q = db.query(Parent)
    q.bulk_insert([{"id": 1, "name": "a"}, {"id": 2, "name": None}])
    fast = q.find_one({"id": 1})
    with db.transaction():
        slow = q.find_one({"id": 1})  # inside a transaction: the ORM path
    for instance in (fast, slow):
        state = sa.inspect(instance)
        assert state.detached and state.identity == (1,)
        assert (instance.id, instance.name) == (1, "a")
        with pytest.raises(orm.exc.DetachedInstanceError):
            _ = instance.children
    assert fast is not slow
    # Detached instances go back through update(): their identity is what matters.
    assert q.update(fast, {"name": "b"}).name == "b"
    assert q.find_one({"id": 1}).name == "b"
    page = q.paginate(per_page=1, count=True)
    assert [p.id for p in page.items] == [1] and page.total == 2
    assert [p.id for p in q.find_all(paginate=False)] == [1, 2]


def test_eager_and_hooked_models_keep_the_orm_path(db):
    db.query(Parent).insert({"id": 1, "name": "p"})
    db.query(Child).insert({"id": 5, "parent_id": 1})
    child = db.query(Child).find_one({"id": 5})
    assert child.parent.name == "p"  # loaded eagerly, usable detached
    db.query(Hooked).insert({"id": 1})
    assert db.query(Hooked).find_one({"id": 1}).seen is True
    db.query(Computed).insert({"id": 1, "n": 21})
    assert db.query(Computed).find_one({"id": 1}).double == 42


def test_load_event_listeners_keep_the_orm_path(db):
    class Listened(Base):
        __tablename__ = "listened"
        id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)

    seen = []
    event.listen(Listened, "load", lambda target, context: seen.append(target.id))
    Base.metadata.create_all(db.engine)
    q = db.query(Listened)
    assert q._loader is None
    q.insert({"id": 3})
    q.find_one({"id": 3})
    assert seen == [3]


@pytest.mark.parametrize("engine", SQL_ENGINES)
def test_reads_hand_their_connection_back_ready_for_transactions(engine, tmp_path):
    """A read may run in the driver's autocommit mode; the pooled connection must not stay in it."""
    with (
        fresh_database(engine, tmp_path) as url,
        db_plugins.connect({"URL": url, "ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0}}) as db,
    ):
        Base.metadata.create_all(db.engine)
        parents = db.query(Parent)
        parents.insert({"id": 1, "name": "a"})
        assert parents.find_one({"id": 1}).name == "a" and parents.count() == 1
        assert parents.paginate(per_page=5).items[0].id == 1
        with pytest.raises(RuntimeError), db.transaction():
            parents.insert({"id": 2, "name": "b"})
            raise RuntimeError("roll back")
        assert parents.count() == 1
        if engine != "sqlite":  # (sqlite3 connections never begin on their own: db-plugins sends BEGIN)
            # Reads ran on their own autocommit pool; the writers' connections never left transactions.
            assert db.read_engine is not db.engine
            with db.engine.connect() as conn:
                dbapi = conn.connection.dbapi_connection
                mode = getattr(dbapi, "get_autocommit", None)  # PyMySQL
                assert (mode() if mode else dbapi.autocommit) is False


def test_a_page_of_instances_is_built_without_the_cyclic_collector():
    """A hundred instances are enough containers to set the collector off; it walks the live
    page into older generations (and every few hundred pages the whole heap). Paused while a
    page is built, it runs no collection there; a collector the application disabled stays so."""
    import gc

    mapper = sa.inspect(Parent)
    loader = InstanceLoader.for_mapper(mapper, Parent.__table__, dict(Parent.__table__.c))
    rows = [(i, f"p{i}") for i in range(1000)]
    runs: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            runs.append(info["generation"])

    gc.callbacks.append(count)
    try:
        page = loader.many(rows)
        assert runs == [] and gc.isenabled()
        assert [(p.id, p.name) for p in page[:2]] == [(0, "p0"), (1, "p1")]
        gc.disable()
        try:
            loader.many(rows)
            assert not gc.isenabled()
        finally:
            gc.enable()
    finally:
        gc.callbacks.remove(count)


def test_a_page_that_would_set_the_collector_off_is_preceded_by_a_young_collection():
    """The collector counts allocations less deallocations. A page that would carry the count
    past the threshold gets a young collection before it is built (the last page gone, the
    collection has little to walk) rather than one right after (walking the page just built)."""
    import gc

    mapper = sa.inspect(Parent)
    loader = InstanceLoader.for_mapper(mapper, Parent.__table__, dict(Parent.__table__.c))
    rows = [(i, f"p{i}") for i in range(60)]
    loader.many(rows)  # learns what an instance allocates
    per_row = loader._tracked_per_row
    assert 2 <= per_row <= 20
    threshold = gc.get_threshold()
    runs: list[tuple[int, int]] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            runs.append((info["generation"], len(built)))

    built: list[Any] = []
    gc.collect()
    gc.callbacks.append(count)
    try:
        gc.set_threshold(per_row * len(rows) + 50, *threshold[1:])
        young = [[] for _ in range(100)]  # the count now near the threshold
        built = loader.many(rows)
        assert runs == [(0, 0)]  # one young collection, before the page existed
        assert gc.get_count()[0] >= per_row * len(rows) - 10  # none since: the page is still young
        del young
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(count)


def test_reads_of_every_row_reuse_their_statement_and_read_fresh_rows(db):
    """An unfiltered page is built once per (ordering, size, offset, fields) and its cache key
    kept; what it reads is read anew each time, and the statements kept are bounded."""
    assert not db.routes_reads  # no replicas: db.primary() changes nothing here
    query = db.query(Parent)
    query.bulk_insert([{"id": i, "name": f"p{i}"} for i in range(5)])
    built = []
    new_read = query._new_read

    def counting(*args):
        built.append(args[1:])
        return new_read(*args)

    query._new_read = counting
    assert [p.id for p in query.paginate(per_page=2)] == [0, 1]
    assert [p.id for p in query.paginate(per_page=2)] == [0, 1]
    assert len(built) == 1  # (the count has a statement of its own)
    query.insert({"id": -1, "name": "first"})
    assert [p.id for p in query.paginate(per_page=2, count=False)] == [-1, 0]
    assert [p.name for p in query.paginate(per_page=2, fields=["name"])] == ["first", "p0"]
    assert [p.id for p in query.paginate(page=2, per_page=2, order_by="-id")] == [2, 1]
    assert len(built) == 2  # the other ordering (fields naming every field read them all)
    assert [p.id for p in query.paginate(per_page=2, filter_by={"id": {"$gt": 0}})] == [1, 2]
    assert len(built) == 3  # a filtered read: built per call
    for page in range(1, 200):
        query.paginate(page=page, per_page=1, count=False)
    assert len(query._unfiltered) <= 64
