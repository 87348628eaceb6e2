"""What each Mongo engine can do, detected once per connection.

Shared code asks these flags -- ``features.transactions``,
``features.bulk_write`` -- and never which server it is talking to. The SQL
plugin's features carry the same ``transactions`` and ``atomic_bulk`` flags.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from ...values import DATETIME_RANGE
from ..base.features import BaseFeatures

__all__ = ["MongoFeatures", "MongomockFeatures", "features_for"]


class MongoFeatures(BaseFeatures):
    """Capabilities of a MongoDB wire-protocol server, refined by :meth:`detect`."""

    #: The engine family, as in the test-suite's engine list.
    name: str = "mongodb"
    #: What answered: ``"mongodb"`` or ``"ferretdb"``, and its version.
    server: str = "mongodb"
    version: tuple[int, ...] = ()
    #: ``db.transaction()`` is available: a replica set or a sharded cluster.
    transactions: bool = False
    #: A failing ``bulk_insert`` writes nothing (it runs inside a transaction).
    atomic_bulk: bool = False
    #: The server stores ``Decimal128`` values (FerretDB 1.x drops the connection instead).
    decimal128: bool = True
    #: The server stores NaN and infinities (FerretDB 1.x refuses them, and drops the connection on NaN).
    nonfinite_floats: bool = True
    #: Fractional-second digits a datetime keeps: BSON stores milliseconds (the SQL
    #: features' flag of the same name says 6). Finer digits are cut on writes, and
    #: on filter operands by the encoder (db_plugins.values).
    datetime_precision: int = 3
    #: The datetimes (naive UTC) the engine stores; a value outside is refused.
    datetime_range: tuple[_dt.datetime, _dt.datetime] = DATETIME_RANGE
    #: ``Collection.bulk_write`` works (mongomock's breaks on pymongo >= 4.9).
    bulk_write: bool = True
    #: The engine lives in this process, and its writes must be serialized here.
    in_process: bool = False
    #: Documents per ``insert_many`` / ``bulk_write`` call in bulk methods (each call
    #: costs the server a write of its own: 1,000 per call took 30% longer than 10,000).
    bulk_batch_size: int = 10000
    #: ``MongoClient`` options used unless the URL or the section sets them (pymongo's own
    #: defaults wait 30 s for a server and forever for a reply). A reply may take 15
    #: minutes -- longer than dbp's own waits (the migration lock: 10 minutes) -- so a
    #: server that stopped answering is an error, never a hang.
    client_defaults: dict[str, Any] = {
        "serverselectiontimeoutms": 5_000,
        "connecttimeoutms": 10_000,
        "sockettimeoutms": 900_000,
    }
    #: Most operations in one ``bulk_write``, or ``None``. FerretDB 1.24 never answers one
    #: of 100 or more updates (measured: 99 take 0.3 s) and keeps working on it.
    bulk_write_limit: int | None = None
    #: Most documents one ``delete_many`` may remove, or ``None``. FerretDB 1.x on
    #: SQLite binds one SQL variable per deleted document and fails past 32766.
    delete_chunk: int | None = None

    def detect(self, client: Any) -> None:
        """Ask the server what it is (two commands, once per connection)."""
        hello = client.admin.command("hello")
        build = client.admin.command("buildInfo")
        self.version = tuple(int(p) for p in build.get("versionArray", [])[:3])
        if "ferretdbVersion" in build or "ferretdbFeatures" in build:
            self.server = "ferretdb"
            self.decimal128 = False
            self.nonfinite_floats = False
            self.delete_chunk = 30_000
            self.bulk_write_limit = 99
        sessions = hello.get("logicalSessionTimeoutMinutes") is not None
        clustered = bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"
        self.transactions = sessions and clustered and self.server == "mongodb" and self.version >= (4, 2)
        self.atomic_bulk = self.transactions

    def describe(self) -> str:
        version = ".".join(map(str, self.version))
        return f"{self.server} {version}".strip()

    def __repr__(self) -> str:
        flags = ", ".join(f"{k}={getattr(self, k)}" for k in ("transactions", "atomic_bulk", "decimal128"))
        return f"<{type(self).__name__} {self.describe()} {flags}>"


class MongomockFeatures(MongoFeatures):
    """The in-process mongomock engine: no sessions, so no transactions."""

    name = "mongomock"
    server = "mongomock"
    # mongomock stores Decimal128 but cannot sort or range-compare it (NotImplementedError).
    decimal128 = False
    bulk_write = False
    in_process = True
    stream_flow_control = False

    def detect(self, client: Any) -> None:
        self.version = tuple(int(p) for p in client.server_info().get("versionArray", [])[:3])


def features_for(embedded: bool) -> MongoFeatures:
    """A fresh features object (``embedded``: a ``mongomock://`` URL)."""
    return MongomockFeatures() if embedded else MongoFeatures()
