"""``dbp dump`` / ``dbp load`` on Mongo: models by name, and collections without one, as they are."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ...filters import FieldInfo, parse_filter, parse_order
from ..base.transfer import Table, TransferAdapter
from .commands import CountCommand, FindCommand
from .filters import MongoCompiler
from .models import ID, collect_models

__all__ = ["MongoTransfer", "CollectionTable"]


class _AnyField(Mapping[str, FieldInfo]):
    """A schema accepting every field name, for collections without a model."""

    def __getitem__(self, name: str) -> FieldInfo:
        if not isinstance(name, str) or not name or name.startswith("$"):
            raise KeyError(name)
        return FieldInfo(name, "any")

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


class CollectionTable(Table):
    """A collection without a model: filters take any field name, values are dumped as stored.

    Its columns are every top-level key found in the collection (``_id``
    first), which takes one more pass over it. Loading needs a model.
    """

    def __init__(self, connection: Any, name: str) -> None:
        self.connection = connection
        self.name = name
        self.collection = connection.database[name]
        self.compiler = MongoCompiler(None)
        self.schema = _AnyField()
        self._fields: list[FieldInfo] | None = None

    @property
    def fields(self) -> list[FieldInfo]:
        if self._fields is None:
            names = {ID: None}
            for document in self.connection.executor.stream(FindCommand(self.name, {}, batch_size=1000)):
                names.update(dict.fromkeys(document))
            self._fields = [FieldInfo(n, "any") for n in names]
        return self._fields

    def _where(self, filter_by: Any) -> dict[str, Any]:
        return self.compiler.compile(parse_filter(filter_by, self.schema, self.name))

    def count(self, filter_by: Any = None) -> int:
        where = self._where(filter_by)
        return self.connection.executor.count(CountCommand(self.name, where))

    def rows(self, filter_by: Any, order_by: Any, batch_size: int) -> Iterator[dict[str, Any]]:
        where = self._where(filter_by)
        sort = self.compiler.sort(parse_order(order_by, self.schema, (ID,), self.name))
        names = [f.name for f in self.fields]
        command = FindCommand(self.name, where, sort, batch_size=batch_size)
        return self.connection.executor.stream(command, lambda document: {name: document.get(name) for name in names})


class MongoTransfer(TransferAdapter):
    """Finds the section's models by collection or class name, or a collection without one."""

    def models(self) -> list[tuple[str, str, Any]]:
        source = self.config.load_models() if self.config.models else None
        return [(m.__name__, m.__tablename__, m) for m in collect_models(source)]

    def table(self, connection: Any, name: str) -> Table | None:
        with connection.guard():
            if name not in connection.database.list_collection_names():
                return None
        return CollectionTable(connection, name)
