"""The plain column: each operation as a user would write it without db-plugins.

SQL engines: SQLAlchemy 2.x's ORM on the same mapped classes, an engine of its own
(same URL, SQLAlchemy's default pool) and a ``Session`` per call, using what the
ORM documents for each job: ``session.get`` by key; ``session.scalars(select(...))``
with ``order_by``/``offset``/``limit`` for pages and ``select(func.count())`` for
counts; ORM bulk ``session.execute(insert(Model), rows)`` for loads and the
dialect's ``insert`` with ``on_conflict_do_update``/``on_conflict_do_nothing``
(MariaDB: ``on_duplicate_key_update``/``prefix_with("IGNORE")``) for upserts; ORM
bulk ``session.execute(update(Model), rows)`` by primary key; the naive, racy
get-or-create (``get``, then ``add`` + ``commit``); ``yield_per`` for streams.
Sessions use ``expire_on_commit=False``, as SQLAlchemy recommends when objects
leave the session, so an object returned after a commit needs no reload.

Mongo engines: the raw reference (:class:`benchmarks.raw.RawMongo`) already is
pymongo as users write it (ready dicts, ``find``/``find_one``,
``count_documents``, ``bulk_write`` of ``UpdateOne``, ``insert_many(ordered=False)``
with duplicate-key errors dropped, the documented way to insert past duplicates),
so its times are the plain column too. The exception is ``bulk_insert``: the
reference passes ``ordered=False``, a user calls ``insert_many(docs)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from .models import COLUMNS


class PlainSQL:
    """SQLAlchemy ORM, a ``Session`` per call; upserts through ``ON CONFLICT`` (SQLite's ``insert``)."""

    #: The ``sqlalchemy.dialects`` module whose ``insert`` has the upsert methods.
    dialect = "sqlite"

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url)
        self.session = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    # -- writes ------------------------------------------------------------------

    def bulk_insert(self, model: Any, rows: list[dict[str, Any]]) -> None:
        with self.session() as s:
            s.execute(sa.insert(model), rows)
            s.commit()

    def insert(self, model: Any) -> Any:
        """The dialect's ``insert`` construct (the one with the upsert methods)."""
        return importlib.import_module(f"sqlalchemy.dialects.{self.dialect}").insert(model)

    def upsert_statement(self, model: Any, mode: str) -> Any:
        stmt = self.insert(model)
        if mode == "ignore":
            return stmt.on_conflict_do_nothing(index_elements=[model.id])
        return stmt.on_conflict_do_update(index_elements=[model.id], set_={c: stmt.excluded[c] for c in COLUMNS[1:]})

    def upsert(self, model: Any, rows: list[dict[str, Any]], mode: str) -> None:
        with self.session() as s:
            s.execute(self.upsert_statement(model, mode), rows)
            s.commit()

    def bulk_update(self, model: Any, changes: list[dict[str, Any]]) -> None:
        """ORM bulk UPDATE by primary key: ``changes`` are dicts holding ``id`` and the new values."""
        with self.session() as s:
            s.execute(sa.update(model), changes)
            s.commit()

    def get_or_create(self, model: Any, values: dict[str, Any]) -> tuple[Any, bool]:
        """The naive version: read by key, else add and commit (two callers may both insert)."""
        with self.session() as s:
            found = s.get(model, values["id"])
            if found is not None:
                return found, False
            instance = model(**values)
            s.add(instance)
            s.commit()
            return instance, True

    # -- reads -------------------------------------------------------------------

    def find_one(self, model: Any, key: int) -> Any:
        with self.session() as s:
            return s.get(model, key)

    def page(self, model: Any, offset: int, limit: int, count: bool = False) -> tuple[list[Any], int | None]:
        """``limit`` mapped objects from ``offset`` in key order, and the total when ``count``."""
        with self.session() as s:
            items = s.scalars(sa.select(model).order_by(model.id).offset(offset).limit(limit)).all()
            total = s.scalar(sa.select(sa.func.count()).select_from(model)) if count else None
        return list(items), total

    def keyset(self, model: Any, after: int, limit: int) -> list[Any]:
        with self.session() as s:
            return list(s.scalars(sa.select(model).where(model.id > after).order_by(model.id).limit(limit)).all())

    def count(self, model: Any, limit: int | None = None) -> int:
        source = model if limit is None else sa.select(model.id).limit(limit).subquery()
        with self.session() as s:
            return s.scalar(sa.select(sa.func.count()).select_from(source))

    def stream(self, model: Any, batch: int) -> Iterator[Any]:
        """Every row as a mapped object in key order, ``batch`` at a time (``yield_per``)."""
        with self.session() as s:
            yield from s.scalars(sa.select(model).order_by(model.id).execution_options(yield_per=batch))


class PlainPostgres(PlainSQL):
    """PostgreSQL's ``insert`` (``ON CONFLICT`` as on SQLite)."""

    dialect = "postgresql"


class PlainMySQL(PlainSQL):
    """MariaDB has no ``ON CONFLICT``: ``ON DUPLICATE KEY UPDATE`` and ``INSERT IGNORE``."""

    dialect = "mysql"

    def upsert_statement(self, model: Any, mode: str) -> Any:
        stmt = self.insert(model)
        if mode == "ignore":
            return stmt.prefix_with("IGNORE")
        return stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in COLUMNS[1:]})


def plain_sql(engine: str, url: str) -> PlainSQL:
    return {"postgresql": PlainPostgres, "mysql": PlainMySQL, "sqlite": PlainSQL}[engine](url)


def plain_mongo_bulk_insert(db: Any, collection: str, docs: list[dict[str, Any]]) -> None:
    """``insert_many`` as documented, with its default ``ordered=True``."""
    db[collection].insert_many(docs)
