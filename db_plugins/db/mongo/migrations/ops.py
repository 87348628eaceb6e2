"""The revision-file API: what ``upgrade(db)`` and ``downgrade(db)`` call.

Revision files import these from :mod:`db_plugins.db.mongo.migrations`. There
are no transactions to lean on (FerretDB has none), so each helper is safe to
run twice: a revision that failed half way is run again from its start.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from pymongo import IndexModel
from pymongo import errors as mongo_errors

__all__ = ["HELPERS", "IndexModel", "create_collection", "create_indexes", "drop_collection", "drop_indexes"]

#: What revision files import, in the order an import sorter wants.
HELPERS = ("IndexModel", "create_collection", "create_indexes", "drop_collection", "drop_indexes")


def create_collection(db: Any, name: str) -> None:
    """Create collection ``name`` unless it exists."""
    if name not in db.list_collection_names():
        with contextlib.suppress(mongo_errors.CollectionInvalid):  # a concurrent creator won
            db.create_collection(name)


def drop_collection(db: Any, name: str) -> None:
    """Drop collection ``name`` (and its documents) if it exists."""
    db.drop_collection(name)


def create_indexes(db: Any, collection: str, indexes: Iterable[IndexModel]) -> None:
    """Create ``indexes`` on ``collection``; an identical index that exists already is left alone."""
    indexes = list(indexes)
    if indexes:
        db[collection].create_indexes(indexes)


def drop_indexes(db: Any, collection: str, names: Iterable[str]) -> None:
    """Drop the indexes called ``names`` from ``collection``, skipping those that do not exist."""
    existing = {index["name"] for index in db[collection].list_indexes()}
    for name in names:
        if name in existing:
            db[collection].drop_index(name)
