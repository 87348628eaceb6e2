"""get_or_create, including many concurrent callers on one key."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import pytest

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


def test_bad_filter(env):
    with pytest.raises(db_plugins.FilterError):
        env.q("Item").get_or_create({})
    with pytest.raises(db_plugins.FilterError):
        env.q("Item").get_or_create({"nope": 1})
    assert env.q("Item").count() == 0


def _worker(config, model_module, model_name, filter_by):
    import importlib

    model = getattr(importlib.import_module(model_module), model_name)
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


@pytest.mark.parametrize("model_name", ["Item", "Event"])
def test_concurrent_processes_get_one_row(env, model_name):
    """8 processes, each with its own connection."""
    if env.engine == "mongomock":
        pytest.skip("mongomock:// is in-process: another process sees another database")
    context = multiprocessing.get_context("spawn")
    with context.Pool(WORKERS) as pool:
        results = pool.starmap(_worker, [(env.config, _module(env), model_name, {"oid": "HOT"})] * WORKERS)
    assert len({key for key, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert env.q(model_name).count() == 1
