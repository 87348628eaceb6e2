"""Autogenerate's diff: the collections and indexes the models want against what the database has."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..models import index_models

__all__ = ["Change", "EMPTY", "compare"]

_INTERNAL_PREFIXES = ("_dbp_", "system.")
# Index properties that are bookkeeping, not part of what an index does.
_IGNORED_OPTIONS = {"v", "ns", "name", "key", "background"}


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _spec(document: Mapping[str, Any]) -> dict[str, Any]:
    """An index as ``{"key": [(field, direction), ...], option: value, ...}``, comparable across servers."""
    key = [(field, _number(direction)) for field, direction in dict(document["key"]).items()]
    options = {k: v for k, v in document.items() if k not in _IGNORED_OPTIONS and v is not False}
    return {"key": key, **options}


def _same_index(wanted: dict[str, Any], found: dict[str, Any]) -> bool:
    # An option the server does not report is one it does not keep (FerretDB
    # drops "sparse", for instance): recreating the index would not change
    # that, so only options both sides state are compared.
    return wanted["key"] == found["key"] and all(found[k] == v for k, v in wanted.items() if k in found)


@dataclass(frozen=True)
class Change:
    """One difference: ``kind`` is ``add_collection``, ``remove_collection``, ``add_index`` or ``remove_index``."""

    kind: str
    collection: str
    index: dict[str, Any] | None = None
    name: str | None = None
    #: For a removed collection: its indexes, so that the downgrade recreates them.
    indexes: tuple[tuple[str, dict[str, Any]], ...] = ()

    def describe(self) -> str:
        action, _, what = self.kind.partition("_")
        if what == "collection":
            return f"{action} collection {self.collection}"
        assert self.index is not None
        fields = ", ".join(f"{field} {direction}" for field, direction in self.index["key"])
        unique = "unique " if self.index.get("unique") else ""
        return f"{action} {unique}index {self.name} on {self.collection} ({fields})"


def compare(models: Iterable[Any], db: Any) -> list[Change]:
    """What must change in ``db`` for it to hold the collections and indexes of ``models``."""
    wanted: dict[str, dict[str, dict[str, Any]]] = {}
    for model in models:
        indexes = wanted.setdefault(model.__tablename__, {})
        for index in index_models(model):
            indexes[index.document["name"]] = _spec(index.document)
    existing = {name for name in db.list_collection_names() if not name.startswith(_INTERNAL_PREFIXES)}
    changes = []
    for collection, indexes in wanted.items():
        if collection not in existing:
            changes.append(Change("add_collection", collection))
            found: dict[str, dict[str, Any]] = {}
        else:
            found = _indexes(db, collection)
        for name, spec in indexes.items():
            if name in found and not _same_index(spec, found[name]):
                changes.append(Change("remove_index", collection, found[name], name))
            if name not in found or not _same_index(spec, found[name]):
                changes.append(Change("add_index", collection, spec, name))
        for name, spec in found.items():
            if name not in indexes:
                changes.append(Change("remove_index", collection, spec, name))
    for collection in sorted(existing - set(wanted)):
        changes.append(Change("remove_collection", collection, indexes=tuple(_indexes(db, collection).items())))
    return changes


def _indexes(db: Any, collection: str) -> dict[str, dict[str, Any]]:
    return {ix["name"]: _spec(ix) for ix in db[collection].list_indexes() if ix["name"] != "_id_"}


class _Empty:
    """A database with nothing in it, to diff the models against for the initial revision."""

    def list_collection_names(self) -> list[str]:
        return []


#: Compare the models with this for the revision that creates everything.
EMPTY = _Empty()
