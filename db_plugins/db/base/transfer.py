"""What ``dbp dump`` / ``dbp load`` ask of a plugin: tables, and an adapter that finds them by name.

A :class:`Table` is a list of fields, a stream of rows and a bulk write;
:class:`ModelTable` provides one over any plugin's query interface. Each
plugin's :class:`TransferAdapter` (``Plugin.transfer(config)``) finds models
by name and the tables or collections that have none.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from ...errors import ConfigError, ValidationError
from ...filters import FieldInfo
from ..generic import BaseQuery

__all__ = ["Table", "ModelTable", "TransferAdapter"]


class Table(abc.ABC):
    """A table or collection as dump and load see it: named fields, a stream of rows, bulk writes."""

    #: The table or collection name, for messages.
    name: str
    #: The fields of its primary key (empty: not known), which name a row in messages.
    key: Sequence[str] = ()

    @property
    @abc.abstractmethod
    def fields(self) -> list[FieldInfo]:
        """The columns written to a file, in order."""

    @abc.abstractmethod
    def count(self, filter_by: Any = None) -> int:
        """How many rows match ``filter_by``."""

    @abc.abstractmethod
    def rows(self, filter_by: Any, order_by: Any, batch_size: int) -> Iterator[dict[str, Any]]:
        """Every matching row as a dict of field values; the filter is checked before this returns."""

    def write(
        self, rows: list[dict[str, Any]], on_conflict: str, conflict_on: str | Sequence[str] | None = None
    ) -> int:
        """Store ``rows`` with ``bulk_insert`` semantics; return how many were written."""
        raise ValidationError(f"{self.name}: cannot load into it (it has no model; add one to MODELS)")

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        """A block whose writes commit together (see ``DatabaseConnection.transaction``)."""
        raise ValidationError(f"{self.name}: cannot load into it (it has no model; add one to MODELS)")


class ModelTable(Table):
    """A :class:`Table` over any plugin's query interface (``db.query(Model)``)."""

    def __init__(self, query: BaseQuery) -> None:
        self.query = query
        self.name = query.model_name
        self.key = tuple(query.primary_key)
        schema = query.schema
        # Key fields first, as a reader expects; then the model's declaration order.
        names = [*query.primary_key, *(n for n in schema if n not in query.primary_key)]
        self._fields = [schema[n] for n in names if n in schema]

    @property
    def fields(self) -> list[FieldInfo]:
        return self._fields

    def count(self, filter_by: Any = None) -> int:
        return self.query.count(filter_by)

    def rows(self, filter_by: Any, order_by: Any, batch_size: int) -> Iterator[dict[str, Any]]:
        stream = self.query.find_all(filter_by, order_by, paginate=False, batch_size=batch_size)
        names = [f.name for f in self._fields]
        value = self.query._value
        return ({name: value(row, name) for name in names} for row in stream)

    def write(
        self, rows: list[dict[str, Any]], on_conflict: str, conflict_on: str | Sequence[str] | None = None
    ) -> int:
        return self.query.bulk_insert(rows, on_conflict=on_conflict, conflict_on=conflict_on)

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        return self.query.connection.transaction()


class TransferAdapter:
    """What a plugin provides so that ``dbp dump`` / ``dbp load`` can find a table by name.

    A plugin returns one from ``Plugin.transfer(config)``; the default methods
    find nothing.
    """

    def __init__(self, config: Any) -> None:
        self.config = config

    def models(self) -> list[tuple[str, str, Any]]:
        """The configured models as ``(class name, table name, model)``."""
        return []

    def model(self, name: str) -> Any | None:
        """The configured model whose table (collection) or class is called ``name``, or ``None``."""
        models = self.models()
        for key in (1, 0):  # a table name wins over a class name
            found = {id(m[2]): m[2] for m in models if m[key] == name}
            if len(found) == 1:
                return next(iter(found.values()))
            if len(found) > 1:
                raise ConfigError(
                    f"DB_CONFIG[{self.config.section!r}]: several models are called {name!r}; "
                    "set MODELS to the module that holds the one you mean"
                )
        return None

    def table(self, connection: Any, name: str) -> Table | None:
        """A table or collection of the database that has no model (reflected), or ``None``."""
        return None

    def missing(self, connection: Any, model: Any) -> str | None:
        """The name of ``model``'s table if the database lacks it (``None``: it is there, or need not be)."""
        return None
