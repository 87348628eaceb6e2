"""Reads without an ORM session: one Core statement, instances built as the ORM builds them.

Outside ``db.transaction()`` a read returns detached instances: the session
that loaded them is closed before they are handed out. For a *plain* mapped
class -- columns of one table, nothing loaded eagerly, no load hooks -- the
same instances can be built from a Core row directly, which skips the
session, the ORM's statement handling and the identity map: about 250 us of
Python per call, most of ``find_one``'s time next to a raw driver.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm.base import PASSIVE_NO_RESULT, PassiveFlag

from ...errors import FieldNotLoaded

__all__ = ["InstanceLoader"]

#: Rows from which :meth:`InstanceLoader.many` pauses the cyclic garbage collector.
GC_PAUSE_ROWS = 50

# Relationship loaders that load nothing when the parent row is read.
_LAZY = frozenset({"select", "raise", "raise_on_sql", "noload", "write_only", "dynamic"})


def _not_loaded(model: str, key: str, loaded: Sequence[str]) -> Any:
    def load(state: Any, passive: Any) -> Any:
        if not passive & PassiveFlag.SQL_OK:  # the ORM only looking (history, flush): nothing to give
            return PASSIVE_NO_RESULT
        raise FieldNotLoaded(f"{model}.{key} was not loaded: the read asked for fields {list(loaded)}")

    return load


class InstanceLoader:
    """Detached instances of one plain mapped class from rows of ``select(*columns)``."""

    def __init__(self, mapper: orm.Mapper, columns: dict[str, sa.Column], unloaded: Iterable[str] = ()) -> None:
        self.keys = list(columns)
        # Fields a projection left out: reading one raises FieldNotLoaded (a loader callable
        # per field; without one, a detached instance raises SQLAlchemy's DetachedInstanceError).
        name = mapper.class_.__name__
        self._unloaded = {key: _not_loaded(name, key, self.keys) for key in sorted(unloaded)}
        self.columns = list(columns.values())
        self._manager = mapper.class_manager
        self._dict_of = mapper.class_manager.dict_getter()
        self._class = mapper.class_
        positions = {column: i for i, column in enumerate(self.columns)}
        pk = [positions[column] for column in mapper.primary_key]
        # The identity tuple in one C call (itemgetter gives a bare value for one column).
        self._identity = itemgetter(*pk) if len(pk) > 1 else None
        self._pk0 = pk[0]
        self._tracked_per_row = 0  # (see many)

    @classmethod
    def for_mapper(cls, mapper: orm.Mapper, table: sa.Table, columns: dict[str, sa.Column]) -> InstanceLoader | None:
        """A loader if the ORM would build ``mapper``'s instances from these columns alone, else ``None``."""
        if mapper.inherits is not None or mapper.polymorphic_on is not None or mapper.with_polymorphic:
            return None
        props = list(mapper.column_attrs)
        if len(props) != len(columns):  # a column_property over an expression
            return None
        for prop in props:
            if prop.deferred or len(prop.columns) != 1 or getattr(prop.columns[0], "table", None) is not table:
                return None
        if any(rel.lazy not in _LAZY for rel in mapper.relationships):
            return None
        dispatch = mapper.class_manager.dispatch
        if dispatch.load or dispatch.refresh:  # reconstructors and load events run only in the ORM
            return None
        return cls(mapper, columns)

    def __call__(self, row: Sequence[Any]) -> Any:
        return self.many((row,))[0]

    def many(self, rows: Iterable[Sequence[Any]]) -> list[Any]:
        """An instance per row, in one loop (a page of rows costs about one instance each)."""
        # An instance is some six new containers (its state, weak reference, key...): a page
        # of a hundred sets off the cyclic collector, which finds the page alive, moves it to
        # an older generation, and so every few hundred pages walks the whole heap: half of a
        # page's time. Paused while a page is built, it next counts once the caller has
        # dropped the page, and has nothing to do (bulk_insert pauses it per batch likewise).
        # The collector counts allocations less deallocations: a page that would carry the
        # count past its threshold (on top of the driver's rows just read) is preceded by a
        # young collection, while the last page is gone, rather than followed by one that
        # walks the page just built.
        if not (isinstance(rows, list) and len(rows) >= GC_PAUSE_ROWS and gc.isenabled()):
            return self._many(rows)
        young = gc.get_count()[0]
        page = self._tracked_per_row * len(rows)
        if page and young + page > gc.get_threshold()[0] >= page:
            gc.collect(0)
            young = 0
        gc.disable()
        try:
            built = self._many(rows)
            if not self._tracked_per_row:  # what one of this model's instances allocates, learnt once
                self._tracked_per_row = max(1, -(-(gc.get_count()[0] - young) // len(rows)))
        finally:
            gc.enable()
        return built

    def _many(self, rows: Iterable[Sequence[Any]]) -> list[Any]:
        cls = self._class
        new = cls.__new__
        manager = self._manager
        state_of = manager._state_constructor
        set_state = manager._state_setter
        dict_of = self._dict_of
        keys = self.keys
        identity = self._identity
        pk0 = self._pk0
        unloaded = self._unloaded
        built = []
        append = built.append
        for row in rows:
            instance = new(cls)
            state = state_of(instance, manager)
            set_state(instance, state)
            dict_of(instance).update(zip(keys, row))
            # What closing the loading session leaves: an identity key, no session
            # (what orm.make_transient_to_detached sets, at a fraction of its cost).
            state.key = (cls, (row[pk0],) if identity is None else identity(row), None)
            if unloaded:
                state.callables = dict(unloaded)  # (the ORM removes a field's entry once it is set)
            append(instance)
        return built
