"""Read replicas: which engine a read outside a transaction runs on.

:class:`Replicas` holds one engine per ``REPLICAS`` entry and routes each read
(round-robin over the replicas that are up, within ``MAX_REPLICA_LAG``) through
the same :class:`~.execute.Executor` code as the primary's reads. A replica
whose read fails with :class:`~db_plugins.ConnectionError` is marked down for
a back-off (doubling from :data:`BACKOFF` to :data:`MAX_BACKOFF` seconds) and
the read is retried on the next replica, then on the primary. Nothing is
checked per call: the first read after a back-off is the health check, and
lag is measured at most every :data:`LAG_INTERVAL` seconds, only when
``MAX_REPLICA_LAG`` is set. State changes are logged once each on the
``db_plugins.replicas`` logger.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa

from ...config import scrub
from ...errors import ConnectionError, DBPluginsError

__all__ = ["Replica", "Replicas", "BACKOFF", "MAX_BACKOFF", "LAG_INTERVAL"]

T = TypeVar("T")

log = logging.getLogger("db_plugins.replicas")

#: Seconds a replica stays out of rotation after its first failure (doubled per failure).
BACKOFF = 1.0
MAX_BACKOFF = 30.0
#: Seconds between lag measurements of a replica (only with ``MAX_REPLICA_LAG``).
LAG_INTERVAL = 1.0


class Replica:
    """One read replica: its engine and what is known of its state."""

    __slots__ = ("backoff", "down_until", "engine", "lag", "lag_checked", "name", "standby")

    def __init__(self, name: str, engine: sa.engine.Engine) -> None:
        self.name = name
        self.engine = engine
        #: Monotonic time until which it is skipped (0: up).
        self.down_until = 0.0
        self.backoff = BACKOFF
        #: Seconds behind the primary, where the engine reports it (``None``: unknown).
        self.lag: float | None = None
        self.lag_checked = 0.0
        #: Whether the server says it is a read-only standby (``None``: it cannot tell).
        self.standby: bool | None = None


class Replicas:
    """The replicas of one ``SQLConnection`` and the routing of its reads."""

    def __init__(self, connection: Any, replicas: list[Replica], max_lag: float | None) -> None:
        self.connection = connection
        self.replicas = replicas
        self.max_lag = max_lag
        self._turn = itertools.count()
        self._lock = threading.Lock()

    # -- routing --------------------------------------------------------------------

    def route(self, work: Callable[[sa.engine.Engine], T]) -> T:
        """``work(engine)`` on a replica that is up, else on the primary's read engine.

        A replica that fails with :class:`ConnectionError` is marked down and the
        next one (at last the primary) runs ``work`` instead: ``work`` must not
        have handed anything out before it fails.
        """
        connection = self.connection
        if connection.pinned:
            return work(connection.read_engine)
        replicas = self.replicas
        if len(replicas) > 1:
            start = next(self._turn) % len(replicas)
            replicas = replicas[start:] + replicas[:start]
        lagging = self.max_lag is not None
        for replica in replicas:
            if replica.down_until and time.monotonic() < replica.down_until:
                continue
            if lagging and self._too_far_behind(replica):
                continue
            try:
                result = work(replica.engine)
            except ConnectionError as exc:
                self.mark_down(replica, exc)
                continue
            if replica.down_until:
                self.mark_up(replica)
            return result
        return work(connection.read_engine)

    def _too_far_behind(self, replica: Replica) -> bool:
        now = time.monotonic()
        if now - replica.lag_checked >= LAG_INTERVAL:
            replica.lag_checked = now
            try:
                self.check(replica)
            except ConnectionError as exc:
                self.mark_down(replica, exc)
                return True
        assert self.max_lag is not None
        return replica.lag is not None and replica.lag > self.max_lag

    # -- state ----------------------------------------------------------------------

    def check(self, replica: Replica) -> None:
        """Ask the replica whether it is a standby and how far behind it is (one round trip)."""
        sql = self.connection.features.replica_state_sql
        if sql is None:
            return
        with self.connection.guard(), replica.engine.connect() as conn:
            standby, lag = conn.exec_driver_sql(sql).one()
        replica.standby = None if standby is None else bool(standby)
        replica.lag = None if lag is None else max(float(lag), 0.0)

    def mark_down(self, replica: Replica, exc: BaseException) -> None:
        with self._lock:
            was_up = not replica.down_until
            if not was_up:
                replica.backoff = min(replica.backoff * 2, MAX_BACKOFF)
            replica.down_until = time.monotonic() + replica.backoff
        if was_up:
            log.warning(
                "replica %s is down (%s): its reads go to the other replicas or the primary", replica.name, _reason(exc)
            )

    def mark_up(self, replica: Replica) -> None:
        with self._lock:
            was_down = bool(replica.down_until)
            replica.down_until = 0.0
            replica.backoff = BACKOFF
        if was_down:
            log.warning("replica %s is up again: reads go to it", replica.name)

    def open(self) -> None:
        """Check every replica once at start: a warning (never an error) for one that does
        not answer (its reads go elsewhere until it does) or is not a read-only standby."""
        for replica in self.replicas:
            try:
                self.check(replica)
            except DBPluginsError as exc:
                self.mark_down(replica, exc)
                continue
            if replica.standby is False:
                log.warning(
                    "replica %s is not a standby (it accepts writes): reads routed there may not "
                    "follow the primary; check REPLICAS",
                    replica.name,
                )

    def status(self) -> list[dict[str, Any]]:
        """Each replica's ``name``, ``up``, ``standby`` and ``lag`` (seconds, ``None`` where unknown).

        Asks every replica now (one round trip each); a replica that fails is marked down.
        """
        found = []
        for replica in self.replicas:
            try:
                self.check(replica)
            except DBPluginsError as exc:
                self.mark_down(replica, exc)
            else:
                self.mark_up(replica)
            up = not replica.down_until
            found.append(
                {"name": replica.name, "up": up, "standby": replica.standby, "lag": replica.lag if up else None}
            )
        return found

    def close(self) -> None:
        for replica in self.replicas:
            replica.engine.dispose()


def _reason(exc: BaseException) -> str:
    """The driver's own words for a failure (our message names the primary's URL)."""
    cause = exc.__cause__
    text = str(getattr(cause, "orig", None) or cause or exc).strip()
    return scrub(text.splitlines()[0] if text else type(exc).__name__)
