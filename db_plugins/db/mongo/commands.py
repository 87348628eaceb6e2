"""Mongo command descriptions: what one call asks of the server, compiled once, run by an executor.

The query interface compiles a portable call (its filter tree, ordering and
paging) into one of these small values; an executor
(:class:`~db_plugins.db.mongo.executor.SyncExecutor`, later an async one over
pymongo's ``AsyncMongoClient``) runs it. A command names its collection rather
than holding a pymongo ``Collection``, so any executor can run it. (These are
MongoDB's commands -- ``find``, ``count``, ``insert`` -- not ``dbp``'s.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["FindCommand", "CountCommand", "InsertCommand", "UpdateCommand", "DeleteCommand", "BulkWriteCommand"]


@dataclass(frozen=True, slots=True)
class FindCommand:
    """``find``: the documents matching ``filter``, sorted, paged and projected.

    ``sort`` is a pymongo sort list or ``None`` (no order asked: a filter that
    pins a unique key); ``limit``/``batch_size`` 0 mean none / the server's.
    """

    collection: str
    filter: Mapping[str, Any]
    sort: Sequence[tuple[str, int]] | None = None
    projection: Mapping[str, Any] | None = None
    skip: int = 0
    limit: int = 0
    batch_size: int = 0


@dataclass(frozen=True, slots=True)
class CountCommand:
    """``count_documents``: how many documents match ``filter``, counting at most ``limit`` (0: all)."""

    collection: str
    filter: Mapping[str, Any]
    limit: int = 0


@dataclass(frozen=True, slots=True)
class InsertCommand:
    """``insert_one`` (one document) or ``insert_many`` (unordered: the rest go in when one fails)."""

    collection: str
    documents: Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class UpdateCommand:
    """``update_one``/``update_many``/``find_one_and_update`` of the documents matching ``filter``."""

    collection: str
    filter: Mapping[str, Any]
    update: Mapping[str, Any]
    upsert: bool = False


@dataclass(frozen=True, slots=True)
class DeleteCommand:
    """``delete_many``: remove the documents matching ``filter``."""

    collection: str
    filter: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class BulkWriteCommand:
    """One unordered ``bulk_write`` of pymongo request objects (``InsertOne``, ``UpdateOne``)."""

    collection: str
    requests: Sequence[Any]
