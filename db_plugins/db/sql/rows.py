"""Reads without an ORM session: one Core statement, instances built as the ORM builds them.

Outside ``db.transaction()`` a read returns detached instances: the session
that loaded them is closed before they are handed out. For a *plain* mapped
class -- columns of one table, nothing loaded eagerly, no load hooks -- the
same instances can be built from a Core row directly, which skips the
session, the ORM's statement handling and the identity map: about 250 us of
Python per call, most of ``find_one``'s time next to a raw driver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from operator import itemgetter
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm.attributes import instance_state

__all__ = ["InstanceLoader", "reading"]

T = TypeVar("T")

_READ = {"dbp_read": True}
# Relationship loaders that load nothing when the parent row is read.
_LAZY = frozenset({"select", "raise", "raise_on_sql", "noload", "write_only", "dynamic"})


class InstanceLoader:
    """Detached instances of one plain mapped class from rows of ``select(*columns)``."""

    def __init__(self, mapper: orm.Mapper, columns: dict[str, sa.Column]) -> None:
        self.keys = list(columns)
        self.columns = list(columns.values())
        self._new = mapper.class_manager.new_instance
        self._dict_of = mapper.class_manager.dict_getter()
        self._class = mapper.class_
        positions = {column: i for i, column in enumerate(self.columns)}
        pk = [positions[column] for column in mapper.primary_key]
        # The identity tuple in one C call (itemgetter gives a bare value for one column).
        self._identity = itemgetter(*pk) if len(pk) > 1 else None
        self._pk0 = pk[0]

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
        instance = self._new()
        self._dict_of(instance).update(zip(self.keys, row))
        # What closing the loading session leaves: an identity key, no session
        # (what orm.make_transient_to_detached sets, at a third of its cost).
        identity = (row[self._pk0],) if self._identity is None else self._identity(row)
        instance_state(instance).key = (self._class, identity, None)
        return instance


def reading(connection: Any, work: Callable[[sa.Connection], T]) -> T:
    """``work(conn)`` (one statement) on a pooled Core connection of ``connection``
    (a ``SQLConnection``), errors translated.

    ``dbp_read`` tells the features a single read runs on it (SQLite then needs no
    explicit ``BEGIN``: the statement is its own snapshot); where switching is free,
    it runs in autocommit mode, saving the ``BEGIN`` and ``ROLLBACK`` round trips.
    """
    with connection.guard(), connection.engine.connect().execution_options(**_READ) as conn:
        if not connection.features.read_autocommit:
            return work(conn)
        # The driver's own flag, not SQLAlchemy's isolation_level option: resetting
        # that on return costs psycopg2 a SET round trip (half of find_one's time).
        dbapi = conn.connection.dbapi_connection
        dbapi.autocommit = True
        try:
            return work(conn)
        finally:
            try:
                dbapi.autocommit = False
            except Exception:
                conn.invalidate()  # never back to the pool in autocommit mode


def streaming(connection: Any, statement: Any, batch_size: int, build: Callable[[Any], Any]) -> Iterator[Any]:
    """Rows of ``statement`` built by ``build``, read ``batch_size`` at a time from a server-side cursor
    (in a transaction: PostgreSQL's cursors need one)."""
    with connection.guard(), connection.engine.connect().execution_options(dbp_read=True, yield_per=batch_size) as conn:
        for row in conn.execute(statement):
            yield build(row)
