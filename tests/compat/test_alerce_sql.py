"""ALeRCE db-plugins 4.x's SQL forms through db_plugins.compat.alerce.sql, on every SQL engine."""

from __future__ import annotations

from collections.abc import Iterator
from unittest import mock

import pytest
import sqlalchemy as sa
from sqlalchemy import Column, Integer, String
from sqlalchemy.orm import DeclarativeBase, Query, Session, scoped_session

import db_plugins
from db_plugins.compat.alerce import AlerceCompatWarning, NotConnectedError, new_DBConnection
from db_plugins.compat.alerce.sql import Base, SQLConnection, SQLDatabaseCreator, SQLQuery
from db_plugins.db.sql import SQLConnection as ModernSQLConnection


class AlerceItem(Base):
    __tablename__ = "alerce_compat_item"
    oid = Column(String(32), primary_key=True)
    ndet = Column(Integer)


class StrictItem(Base):
    __tablename__ = "alerce_compat_strict"
    oid = Column(String(32), primary_key=True)
    label = Column(String(32), nullable=False)


class OtherBase(DeclarativeBase):
    pass


class OtherItem(OtherBase):
    __tablename__ = "alerce_compat_other"
    id = Column(Integer, primary_key=True)


@pytest.fixture
def db(sql_url: str) -> Iterator[SQLConnection]:
    db = SQLConnection()
    db.connect({"SQLALCHEMY_DATABASE_URL": sql_url})
    db.create_db()
    db.session.add(AlerceItem(oid="ZTF1", ndet=1))
    db.session.commit()
    yield db
    db.end_session()
    db.drop_db()
    db.close()


def test_connect_keeps_4x_attributes_on_a_db_plugins_connection(db: SQLConnection) -> None:
    assert isinstance(db, ModernSQLConnection)  # transaction(), guard(), features...
    assert isinstance(db.session, Session) and db.Base is Base and db.engine is not None
    assert db.features.name in ("sqlite", "postgresql", "mysql")


def test_query_with_a_model_is_a_sqlalchemy_query_with_the_4x_methods(db: SQLConnection, modern_only: None) -> None:
    query = db.query(AlerceItem)
    assert isinstance(query, SQLQuery) and isinstance(query, Query)
    assert [o.oid for o in query.filter(AlerceItem.ndet == 1).all()] == ["ZTF1"]
    item, created = db.query(AlerceItem).get_or_create(filter_by={"oid": "ZTF1"})
    assert (item.oid, created) == ("ZTF1", False)
    item, created = db.query(AlerceItem).get_or_create(filter_by={"oid": "ZTF2"}, ndet=5)
    assert (item.ndet, created) == (5, True)
    assert db.query(AlerceItem).check_exists(filter_by={"oid": "ZTF2"})
    assert db.query(AlerceItem).find_one(filter_by=AlerceItem.oid == "ZTF2").ndet == 5
    assert db.query(AlerceItem).find_one(filter_by={"oid": "nope"}) is None
    # The modern order (the filter first) reads as the filter, never as a model.
    assert db.query(AlerceItem).get_or_create({"oid": "ZTF2"})[0].ndet == 5
    assert db.query(AlerceItem).check_exists({"oid": "nope"}) is False
    assert db.query(AlerceItem).find_one(AlerceItem.oid == "ZTF1").oid == "ZTF1"
    assert db.query(AlerceItem).find_all({"ndet": 5}).total == 1


def test_query_without_a_model_takes_model_per_method_and_warns(db: SQLConnection) -> None:
    with pytest.warns(AlerceCompatWarning, match=r"db\.query\(AlerceItem\)\.get_or_create"):
        item, created = db.query().get_or_create(AlerceItem, {"oid": "ZTF3"}, ndet=2)
    assert created and item.ndet == 2
    with pytest.warns(AlerceCompatWarning, match="check_exists"):
        assert db.query().check_exists(AlerceItem, {"oid": "ZTF3"})
    with pytest.warns(AlerceCompatWarning, match="find_one"):
        assert db.query().find_one(model=AlerceItem, filter_by={"oid": "ZTF3"}).oid == "ZTF3"
    with pytest.warns(AlerceCompatWarning, match="bulk_insert"):
        db.query().bulk_insert([{"oid": "ZTF4"}], AlerceItem)
    with pytest.raises(ValueError, match="no model"):
        db.query().find_one(filter_by={"oid": "ZTF3"})


def test_update_sets_attributes_for_the_session_to_commit(db: SQLConnection) -> None:
    item = db.query(AlerceItem).find_one(filter_by={"oid": "ZTF1"})
    assert db.query(AlerceItem).update(item, {"ndet": 9}) is item and item.ndet == 9
    db.session.commit()
    db.session.expire_all()
    assert db.query(AlerceItem).find_one(filter_by={"oid": "ZTF1"}).ndet == 9


def test_bulk_insert_skips_existing_keys_on_every_engine(db: SQLConnection) -> None:
    written = db.query(AlerceItem).bulk_insert([{"oid": "ZTF1", "ndet": 7}, {"oid": "ZTF5", "ndet": 1}])
    assert written == 1
    assert db.query(AlerceItem).bulk_insert([]) is None
    assert {(o.oid, o.ndet) for o in db.query(AlerceItem).all()} == {("ZTF1", 1), ("ZTF5", 1)}


def test_paginate_and_find_return_db_plugins_pages(db: SQLConnection) -> None:
    db.query(AlerceItem).bulk_insert([{"oid": f"ZTF{i}", "ndet": i} for i in range(2, 6)])
    page = db.query(AlerceItem).order_by(AlerceItem.oid).paginate(page=1, per_page=2)
    assert isinstance(page, db_plugins.Pagination)
    assert ([o.oid for o in page.items], page.total, page.has_next, page.pages) == (["ZTF1", "ZTF2"], 5, True, 3)
    last = page.next().next()
    assert ([o.oid for o in last.items], last.has_next) == (["ZTF5"], False)
    capped = db.query(AlerceItem).paginate(per_page=2, max_results=3)
    assert (capped.total, capped.total_capped) == (3, True)
    assert db.query(AlerceItem).paginate(count=False).total is None
    with pytest.warns(AlerceCompatWarning, match=r"find_all\(\)"):
        found = db.query(AlerceItem).find()
    assert found.total == 5
    with pytest.warns(AlerceCompatWarning):
        assert len(db.query(AlerceItem).find(filter_by={"ndet": 3}, paginate=False)) == 1
    assert isinstance(db.query(AlerceItem).find_all(paginate=False), list)


def test_scoped_session_gives_model_query(sql_url: str) -> None:
    db = SQLConnection().connect({"SQLALCHEMY_DATABASE_URL": sql_url}, use_scoped=True)
    try:
        db.create_db()
        assert isinstance(db.session, scoped_session)
        db.session.add(AlerceItem(oid="S1"))
        db.session.commit()
        assert isinstance(AlerceItem.query, SQLQuery)
        assert AlerceItem.query.first().oid == "S1"
        assert AlerceItem.query.get_or_create(filter_by={"oid": "S1"})[1] is False
        with pytest.warns(AlerceCompatWarning):
            assert db.session.query().get_or_create(model=AlerceItem, filter_by={"oid": "S2"})[1] is True
        db.end_session()
        assert db.session is None
    finally:
        db.drop_db()
        db.close()


def test_sessions_on_demand_and_a_base_of_ones_own(sql_url: str) -> None:
    db = SQLConnection(Base=OtherBase).connect({"SQLALCHEMY_DATABASE_URL": sql_url}, create_session=False)
    try:
        assert db.session is None and db.Base is OtherBase
        db.create_session(use_scoped=False)
        db.create_db()
        assert sa.inspect(db.engine).has_table("alerce_compat_other")
        assert not sa.inspect(db.engine).has_table("alerce_compat_item")
        assert db.query(OtherItem).bulk_insert([{"id": 1}, {"id": 1}, {"id": 2}]) == 2
        assert sorted(o.id for o in db.query(OtherItem).all()) == [1, 2]
        db.drop_db()
        assert not sa.inspect(db.engine).has_table("alerce_compat_other")
    finally:
        db.close()


def test_injected_engine_and_session_factory_are_used_as_given(sql_url: str) -> None:
    engine = sa.create_engine(sql_url)
    factory = mock.Mock(wraps=sa.orm.sessionmaker(bind=engine))
    with pytest.warns(AlerceCompatWarning, match=r"db_plugins\.connect"):
        db = SQLConnection(engine=engine, Session=factory)
    db.connect({}, base=OtherBase)
    try:
        assert db.engine is engine and factory.call_count == 1
        db.create_db()
        query = db.query(OtherItem)  # a query class the factory did not set: still an SQLQuery
        assert isinstance(query, SQLQuery)
        query.bulk_insert([{"id": 3}])
        assert [o.id for o in db.query(OtherItem).all()] == [3]
    finally:
        db.drop_db()
        db.close()


def test_errors_are_db_plugins_errors_with_the_cause(db: SQLConnection) -> None:
    with pytest.raises(db_plugins.IntegrityError) as info:
        db.query(StrictItem).get_or_create(filter_by={"oid": "BAD"})
    assert isinstance(info.value.__cause__, sa.exc.IntegrityError)


def test_never_connected_says_so() -> None:
    db = new_DBConnection(SQLDatabaseCreator)
    assert isinstance(db, SQLConnection) and db.engine is None and db.session is None
    for call in (db.create_db, db.drop_db, db.query, lambda: db.create_session(False)):
        with pytest.raises(NotConnectedError, match=r"not connected|no session"):
            call()
    assert issubclass(NotConnectedError, (AttributeError, db_plugins.DBPluginsError))
    with pytest.raises(db_plugins.ConfigError, match="no configuration"):
        db.connect()
    assert "not connected" in repr(db)
