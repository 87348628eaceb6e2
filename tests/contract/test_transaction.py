"""db.transaction(): commit at exit, roll back on an exception.

On a server without transactions (FerretDB) the documented behaviour is an
``UnsupportedOperation`` before anything is written; the same tests assert it.
"""

from __future__ import annotations

import pytest

import db_plugins


def unsupported(env):
    """Assert the no-transactions behaviour; True when the engine has none."""
    if env.db.features.transactions:
        return False
    before = env.q("Item").count()
    with pytest.raises(db_plugins.UnsupportedOperation, match="transaction"):
        with env.db.transaction():
            env.q("Item").insert({"oid": "NEVER"})
    assert env.q("Item").count() == before
    return True


def test_commits_at_exit(env):
    if unsupported(env):
        return
    with env.db.transaction():
        env.q("Item").insert({"oid": "A"})
        env.q("Item").bulk_insert([{"oid": "B"}, {"oid": "C"}])
        assert env.q("Item").count() == 3  # visible inside the block
    assert env.q("Item").count() == 3


def test_rolls_back_on_exception(env):
    env.q("Item").insert({"oid": "KEEP", "mag": 1.0})
    if unsupported(env):
        return
    with pytest.raises(RuntimeError):
        with env.db.transaction():
            env.q("Item").insert({"oid": "A"})
            item = env.q("Item").find_one({"oid": "KEEP"})
            env.q("Item").update(item, {"mag": 2.0})
            env.q("Item").delete({"oid": "KEEP"})
            raise RuntimeError("boom")
    assert [(i.oid, i.mag) for i in env.q("Item").find_all(paginate=False)] == [("KEEP", 1.0)]


def test_error_inside_rolls_back_everything(env):
    if unsupported(env):
        return
    with pytest.raises(db_plugins.DuplicateKeyError):
        with env.db.transaction():
            env.q("Item").insert({"oid": "A"})
            env.q("Item").insert({"oid": "A"})
    assert env.q("Item").count() == 0


def test_nested_block_rolls_back_alone(env):
    if unsupported(env):
        return
    if not getattr(env.db.features, "savepoints", True):  # (DuckDB) nesting is refused, the outer block goes on
        with env.db.transaction():
            env.q("Item").insert({"oid": "OUTER"})
            with pytest.raises(db_plugins.UnsupportedOperation, match="no savepoints"):
                with env.db.transaction():
                    env.q("Item").insert({"oid": "INNER"})
        assert [i.oid for i in env.q("Item").find_all(paginate=False)] == ["OUTER"]
        return
    with env.db.transaction():
        env.q("Item").insert({"oid": "OUTER"})
        with pytest.raises(RuntimeError):
            with env.db.transaction():
                env.q("Item").insert({"oid": "INNER"})
                raise RuntimeError("inner only")
    assert [i.oid for i in env.q("Item").find_all(paginate=False)] == ["OUTER"]
