"""Bulk writes on Mongo: ``insert_many(ordered=False)`` and ``bulk_write`` in batches.

Without a transaction MongoDB cannot undo the part of a batch that went in,
so a failure raises :class:`~db_plugins.BulkWriteError` (or
:class:`~db_plugins.BulkDuplicateKeyError`, which is also a
:class:`~db_plugins.DuplicateKeyError`) saying how many rows were written and
which keys failed. Inside a transaction the error is the plain
``DuplicateKeyError`` / ``IntegrityError``: the transaction is rolled back.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

from bson import ObjectId
from pymongo import InsertOne, UpdateOne
from pymongo import errors as mongo_errors

from ...errors import (
    BulkDuplicateKeyError,
    BulkWriteError,
    ConnectionError,
    DBPluginsError,
    DuplicateKeyError,
    IntegrityError,
)
from .connection import DUPLICATE_CODES
from .models import ID

__all__ = ["Row", "insert_rows", "run_ops", "bulk_failure", "connection_lost"]

#: A stored document and the stored keys its caller gave (the rest are defaults).
Row = tuple[dict[str, Any], frozenset[str]]
#: ``("insert", document)`` or ``("update", filter, update, upsert)``.
Op = tuple[Any, ...]


def insert_rows(connection: Any, collection: Any, batches: Iterable[list[Row]], mode: str) -> int:
    """Write every batch with ``on_conflict`` ``mode``; return the rows written.

    ``"ignore"`` keeps the first of rows sharing a key and counts the rows
    inserted; ``"update"`` merges them (the last wins) and counts the
    distinct rows written, overwriting only the fields each row gave.
    """
    written = 0
    try:
        for batch in batches:
            for doc, _ in batch:
                # A key chosen here, not by the driver, so failures can always be named.
                if ID not in doc:
                    doc[ID] = ObjectId()
            if mode == "update":
                written += _upsert(connection, collection, batch, written)
            else:
                docs = [doc for doc, _ in batch]
                if mode == "ignore":
                    docs = _first_per_key(docs)
                written += _insert(connection, collection, docs, mode, written)
    except ConnectionError as exc:
        raise connection_lost("bulk_insert", exc, written, connection) from exc
    return written


def connection_lost(what: str, exc: ConnectionError, written: int, connection: Any) -> ConnectionError:
    """The error for a write cut off by a lost server: what stays written (``written`` is set on it)."""
    if connection.in_transaction:
        note = "the transaction is rolled back, so nothing of this call stays written"
    else:
        note = (
            f"{written} row(s) of earlier batches were written and stay written, and rows of the batch in flight "
            "may have been written too (no transaction on this server: load again with on_conflict='ignore' "
            "or 'update' to complete it)"
        )
    error = ConnectionError(f"{what}: {exc}; {note}")
    error.written = written  # type: ignore[attr-defined]
    return error


def _hashable(key: Any) -> bool:
    return isinstance(key, Hashable)


def _first_per_key(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[Any] = set()
    out = []
    for doc in docs:
        key = doc[ID]
        if _hashable(key):
            if key in seen:
                continue
            seen.add(key)
        out.append(doc)
    return out


def _insert(connection: Any, collection: Any, docs: list[dict[str, Any]], mode: str, before: int) -> int:
    if mode == "ignore" and connection.in_transaction:
        # Any failed write aborts a MongoDB transaction: skip existing keys by upserting instead.
        result = run_ops(connection, collection, [("update", {ID: d[ID]}, {"$setOnInsert": d}, True) for d in docs])
        return result["nUpserted"]
    try:
        with connection.guard(write=True):
            collection.insert_many(docs, ordered=False, **connection.session_args())
        return len(docs)
    except mongo_errors.BulkWriteError as exc:
        details = exc.details
        errors = details.get("writeErrors", [])
        if mode == "ignore":
            errors = [e for e in errors if e.get("code") not in DUPLICATE_CODES]
        inserted = details.get("nInserted", 0)
        if not errors and not details.get("writeConcernErrors"):
            return inserted
        raise bulk_failure("bulk_insert", details, lambda i: docs[i][ID], before + inserted, connection) from exc


def _upsert(connection: Any, collection: Any, batch: list[Row], before: int) -> int:
    merged: dict[Any, tuple[dict[str, Any], set[str]]] = {}
    loose: list[dict[str, Any]] = []
    for doc, given in batch:
        key = doc[ID]
        if ID not in given or not _hashable(key):
            loose.append(doc)  # a generated key: nothing to update, a plain insert
        elif key in merged:
            old, old_given = merged[key]
            merged[key] = ({**old, **{k: doc[k] for k in given}}, old_given | given)
        else:
            merged[key] = (doc, set(given))
    ops: list[Op] = []
    for key, (doc, given) in merged.items():
        update = {}
        changes = {k: v for k, v in doc.items() if k in given and k != ID}
        defaults = {k: v for k, v in doc.items() if k not in given and k != ID}
        if changes:
            update["$set"] = changes
        if defaults:
            update["$setOnInsert"] = defaults
        ops.append(("update", {ID: key}, update or {"$setOnInsert": {ID: key}}, True))
    ops.extend(("insert", doc) for doc in loose)
    keys = [op[1][ID] for op in ops]  # an update's filter and an insert's document both hold it
    try:
        run_ops(connection, collection, ops)
    except mongo_errors.BulkWriteError as exc:
        d = exc.details
        done = d.get("nUpserted", 0) + d.get("nMatched", 0) + d.get("nInserted", 0)
        raise bulk_failure("bulk_insert", d, keys.__getitem__, before + done, connection) from exc
    return len(ops)


def run_ops(connection: Any, collection: Any, ops: Sequence[Op]) -> dict[str, int]:
    """Run ``ops`` unordered, in as few ``bulk_write`` calls as the server takes.

    Raises pymongo's ``BulkWriteError`` with indexes into ``ops`` and the counts
    of every call so far; the calls after a failing one are not made.
    """
    totals = {"nInserted": 0, "nUpserted": 0, "nMatched": 0, "nModified": 0}
    size = connection.features.bulk_write_limit or max(len(ops), 1)
    for start in range(0, len(ops), size):
        try:
            result = _run_chunk(connection, collection, ops[start : start + size])
        except mongo_errors.BulkWriteError as exc:
            details = exc.details
            errors = [{**e, "index": e["index"] + start} for e in details.get("writeErrors", [])]
            counts = {k: v + details.get(k, 0) for k, v in totals.items()}
            concern = details.get("writeConcernErrors", [])
            raise mongo_errors.BulkWriteError({**counts, "writeErrors": errors, "writeConcernErrors": concern}) from exc
        for key in totals:
            totals[key] += result.get(key, 0)
    return totals


def _run_chunk(connection: Any, collection: Any, ops: Sequence[Op]) -> dict[str, Any]:
    if not connection.features.bulk_write:
        return _one_by_one(connection, collection, ops)
    requests = [InsertOne(op[1]) if op[0] == "insert" else UpdateOne(op[1], op[2], upsert=op[3]) for op in ops]
    try:
        with connection.guard(write=True):
            return collection.bulk_write(requests, ordered=False, **connection.session_args()).bulk_api_result
    except KeyError:
        # FerretDB 1.24 answers an update that failed inside a bulk_write without "nModified",
        # and pymongo's reply merging breaks. The server has finished the chunk: replay it one
        # operation at a time to learn which failed.
        return _one_by_one(connection, collection, ops, replay=True)


def _one_by_one(connection: Any, collection: Any, ops: Sequence[Op], replay: bool = False) -> dict[str, int]:
    """``run_ops`` one operation per call: for engines without a usable ``bulk_write``
    (mongomock: in process, no round trips to save), and to ``replay`` a chunk already run.

    A replay is safe: updates by key are idempotent, and an insert op carries an ``_id``
    generated here, so finding it stored means the first run inserted it.
    """
    counts = {"nInserted": 0, "nUpserted": 0, "nMatched": 0, "nModified": 0}
    errors = []
    session = connection.session_args()
    with connection.guard(write=True):
        for index, op in enumerate(ops):
            try:
                if op[0] == "insert":
                    collection.insert_one(op[1], **session)
                    counts["nInserted"] += 1
                    continue
                result = collection.update_one(op[1], op[2], upsert=op[3], **session)
            except mongo_errors.WriteError as exc:
                if replay and op[0] == "insert" and collection.count_documents({ID: op[1][ID]}, limit=1, **session):
                    counts["nInserted"] += 1
                    continue
                errors.append({"index": index, "code": exc.code, "errmsg": str(exc)})
                continue
            if result.upserted_id is not None:
                counts["nUpserted"] += 1
            else:
                counts["nMatched"] += result.matched_count
                counts["nModified"] += result.modified_count
    if errors:
        raise mongo_errors.BulkWriteError({**counts, "writeErrors": errors, "writeConcernErrors": []})
    return counts


def bulk_failure(
    what: str, details: dict[str, Any], key_at: Callable[[int], Any], written: int, connection: Any
) -> DBPluginsError:
    """The error for a partly failed bulk write: what was written and which keys failed."""
    errors = details.get("writeErrors", [])
    keys = [key_at(e["index"]) for e in errors if "index" in e]
    duplicate = bool(errors) and all(e.get("code") in DUPLICATE_CODES for e in errors)
    if errors:
        reason = "duplicate key" if duplicate else str(errors[0].get("errmsg", "write error")).split(", full error")[0]
    else:
        reason = "write concern error: " + str(details.get("writeConcernErrors", [{}])[0].get("errmsg", "?"))
    shown = ", ".join(repr(k) for k in keys[:10]) + (f" and {len(keys) - 10} more" if len(keys) > 10 else "")
    if connection.in_transaction:
        cls = DuplicateKeyError if duplicate else IntegrityError
        return cls(f"{what}: {reason} ({shown}); the transaction will be rolled back")
    bulk_cls = BulkDuplicateKeyError if duplicate else BulkWriteError
    return bulk_cls(
        f"{what}: {len(keys)} row(s) not written ({reason}: {shown}); {written} other row(s) were written "
        "and stay written (no transaction to undo them on this server)",
        written=written,
        failed_keys=keys,
    )
