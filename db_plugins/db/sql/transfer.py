"""``dbp dump`` / ``dbp load`` on SQL engines: models by name, and tables without one, reflected."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from ..base.transfer import ModelTable, Table, TransferAdapter
from .connection import find_base

__all__ = ["SQLTransfer", "map_table"]


def map_table(table: sa.Table) -> type:
    """A new class mapped to ``table`` (keyed by all its columns when it has no primary key)."""
    cls = type(table.name, (), {"__doc__": f"The {table.name} table, reflected."})
    key = list(table.primary_key.columns) or list(table.columns)
    orm.registry().map_imperatively(cls, table, primary_key=key)
    return cls


class SQLTransfer(TransferAdapter):
    """Finds mapped classes of the section's ``MODELS`` base, or reflects a table of the database."""

    def _base(self) -> Any:
        if self.config.models:
            return find_base(self.config.load_models())
        from .models import Base

        return Base

    def models(self) -> list[tuple[str, str, Any]]:
        base = self._base()
        if isinstance(base, sa.MetaData):
            # MODELS names a bare MetaData: its tables, mapped on demand.
            return [(t.name, key, t) for key, t in base.tables.items()]
        out = []
        for mapper in base.registry.mappers:
            table = mapper.local_table
            if isinstance(table, sa.Table):
                out.append((mapper.class_.__name__, table.fullname, mapper.class_))
        return out

    def model(self, name: str) -> Any | None:
        found = super().model(name)
        return map_table(found) if isinstance(found, sa.Table) else found

    def missing(self, connection: Any, model: Any) -> str | None:
        table = sa.inspect(model).local_table
        with connection.guard():
            found = sa.inspect(connection.engine).has_table(table.name, schema=table.schema)
        return None if found else table.fullname

    def table(self, connection: Any, name: str) -> Table | None:
        schema, _, table_name = name.rpartition(".")
        with connection.guard():
            if not sa.inspect(connection.engine).has_table(table_name, schema=schema or None):
                return None
            table = sa.Table(table_name, sa.MetaData(), schema=schema or None, autoload_with=connection.engine)
        return ModelTable(connection.query(map_table(table)))
