"""A named lock shared by every client of a database: one document in ``_dbp_locks``.

Taking the lock inserts ``{_id: name, owner, expires}``; the unique ``_id``
lets exactly one client in. A lock whose holder died is taken over once its
``expires`` time has passed (one atomic ``update_one`` on the expired
document, so only one waiter wins). Servers without TTL indexes (FerretDB
1.x) are fine: expiry is checked by the waiters, not by the server. Expiry
compares the clients' clocks, which must agree to well within ``ttl``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import random
import time
import uuid
from collections.abc import Iterator
from typing import Any

from ...errors import DuplicateKeyError
from ..base.bridge import pause

__all__ = ["LOCKS_COLLECTION", "document_lock", "lock_id"]

LOCKS_COLLECTION = "_dbp_locks"
DEFAULT_TTL = 30.0
DEFAULT_TIMEOUT = 60.0


def lock_id(*parts: str) -> str:
    """A lock name: readable prefix, hashed tail (names may be long or hold any characters)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"{parts[0]}:{digest}"


def _now() -> _dt.datetime:
    # BSON datetimes are naive UTC with millisecond precision.
    now = _dt.datetime.now(_dt.UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@contextlib.contextmanager
def document_lock(
    connection: Any, name: str, *, ttl: float = DEFAULT_TTL, timeout: float = DEFAULT_TIMEOUT
) -> Iterator[str]:
    """Hold the lock ``name`` on ``connection``'s database for the block (yields the owner token).

    Raises ``TimeoutError`` when the lock cannot be taken within ``timeout``
    seconds; a holder that does not release it is presumed dead after ``ttl``.
    """
    # Through the connection's executor: on the asyncio API its calls await the driver, and
    # the waits below let the holder's task run (blocking, they starved it until the TTL).
    locks = connection.executor.collection(LOCKS_COLLECTION)
    owner = uuid.uuid4().hex
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        now = _now()
        expires = now + _dt.timedelta(seconds=ttl)
        try:
            with connection.guard(write=True):
                locks.insert_one({"_id": name, "owner": owner, "expires": expires})
            break
        except DuplicateKeyError:
            with connection.guard(write=True):
                taken = locks.update_one(
                    {"_id": name, "expires": {"$lt": now}}, {"$set": {"owner": owner, "expires": expires}}
                )
            if taken.modified_count:
                break
        if time.monotonic() >= deadline:
            raise TimeoutError(f"lock {name!r}: still held by another client after {timeout:g} s")
        pause(delay * random.uniform(0.5, 1.5))
        delay = min(delay * 2, 0.1)
    try:
        yield owner
    finally:
        with connection.guard(write=True):
            locks.delete_one({"_id": name, "owner": owner})
