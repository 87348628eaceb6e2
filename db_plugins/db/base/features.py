"""The capability flags every plugin declares: :class:`BaseFeatures`.

A connection's ``features`` object says what its engine can do and where it
deliberately differs from the contract (MongoDB's semantics). Shared code asks
these flags -- never which database it is talking to. Features are data: class
attributes each documented with ``#:`` (the tables in docs/engines.md are read
from them), decided when the connection is made (a plugin may refine them
from the live server once, at connect). Behaviour that differs between engines
belongs to a plugin's operations, not here.

Each plugin subclasses :class:`BaseFeatures` and adds the flags of its own
engines (``db_plugins.db.sql.dialects``, ``db_plugins.db.mongo.features``).
"""

from __future__ import annotations

import datetime as dt

from ...values import DATETIME_RANGE

__all__ = ["BaseFeatures"]


class BaseFeatures:
    """The flags every plugin's ``features`` object has; the defaults are the cautious answers."""

    #: The engine family as the test suite and error messages name it (``"sqlite"``, ``"mongodb"`` ...).
    name: str = "unknown"
    #: ``db.transaction()`` is available: writes in the block commit together or not at all
    #: (elsewhere it raises ``UnsupportedOperation`` before anything is written).
    transactions: bool = False
    #: A failing ``bulk_insert`` writes nothing (elsewhere it raises ``BulkWriteError`` saying
    #: how many rows were stored).
    atomic_bulk: bool = False
    #: ``find_all(paginate=False)`` reads from the server only as fast as its results are
    #: taken, so its memory stays flat however slowly the caller consumes them (mongomock's
    #: query engine holds every match in this process; asyncmy reads its socket with no
    #: flow control, so a slow consumer holds the rest of the result in memory).
    stream_flow_control: bool = True
    #: Rows (documents) per statement or call in bulk writes.
    bulk_batch_size: int = 1000
    #: Fractional-second digits a datetime keeps (6: microseconds; BSON: 3); ``None``: per
    #: column (see the plugin's operations). Finer digits are cut on writes and filter
    #: operands alike (db_plugins.values).
    datetime_precision: int | None = 6
    #: The datetimes (naive UTC) the engine stores; a value outside is refused.
    datetime_range: tuple[dt.datetime, dt.datetime] = DATETIME_RANGE

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
