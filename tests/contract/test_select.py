"""query.select(): the engine's own statement for a portable filter and order (issue 17)."""

from __future__ import annotations

import pytest

import db_plugins
from tests.contract.test_crud import seed


def native_oids(env, statement):
    """Run ``statement`` with the engine's own API, as a user would."""
    if env.is_sql:
        with env.db.session() as session:
            return [item.oid for item in session.scalars(statement)]
    where, sort = statement
    collection = env.db.database[env.model("Item").__tablename__]
    return [document["_id"] for document in collection.find(where, sort=sort)]


@pytest.mark.parametrize(
    ("filter_by", "order_by"),
    [
        (None, None),
        ({"n": {"$gte": 2}}, "-n"),
        ({"$or": [{"flag": True}, {"name": "name1"}]}, ["name"]),
        ({"mag": {"$lt": 2**53 + 1}}, "-mag"),
    ],
)
def test_select_matches_the_portable_call(env, filter_by, order_by):
    seed(env, 6)
    q = env.q("Item")
    expected = [item.oid for item in q.find_all(filter_by, order_by, paginate=False)]
    assert native_oids(env, q.select(filter_by, order_by)) == expected


def test_select_checks_the_filter(env):
    with pytest.raises(db_plugins.FilterError, match="nope"):
        env.q("Item").select({"nope": 1})


def test_select_native_shape(env):
    statement = env.q("Item").select({"n": 1}, "-mag")
    if env.is_sql:
        import sqlalchemy as sa

        assert isinstance(statement, sa.Select)
    else:
        where, sort = statement
        assert isinstance(where, dict) and sort[0][1] == -1
