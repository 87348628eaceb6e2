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
from ..generic import batched
from .commands import BulkWriteCommand, FindCommand, InsertCommand
from .errors import DUPLICATE_CODES
from .models import ID

# Keys per lookup query (FerretDB answers large $in lists slowly).
LOOKUP_CHUNK = 1000

__all__ = ["Row", "Conflict", "insert_rows", "run_ops", "bulk_failure", "connection_lost"]

#: A stored document and the stored keys its caller gave (the rest are defaults).
Row = tuple[dict[str, Any], frozenset[str]]
#: ``("insert", document)`` or ``("update", filter, update, upsert)``.
Op = tuple[Any, ...]
#: Index of a row (or an operation) -> the text naming it in an error.
Namer = Callable[[int], str]


class Conflict:
    """What decides "already exists" in one ``bulk_insert`` call, in stored names.

    ``target``: the conflict key (``()`` for ``on_conflict="error"``);
    ``unique``: every unique key of the model, ``_id`` first; ``pk``: the name
    the model gives ``_id`` (errors name fields as the caller does).
    """

    def __init__(self, target: tuple[str, ...], unique: Sequence[tuple[str, ...]], pk: str | None) -> None:
        self.target = target
        self.others = [k for k in unique if k != target]
        self.unique = list(unique)
        self._pk = pk or ID

    def value(self, doc: dict[str, Any], fields: Sequence[str]) -> Any:
        """The key ``fields`` of ``doc``: the value itself for one field, else a tuple."""
        return doc.get(fields[0]) if len(fields) == 1 else tuple(doc.get(f) for f in fields)

    def describe(self, doc: dict[str, Any], fields: Iterable[str]) -> str:
        return ", ".join(f"{self._pk if f == ID else f}={doc.get(f)!r}" for f in fields)

    def _given(self, doc: dict[str, Any], generated: set[int]) -> list[tuple[str, ...]]:
        """The unique keys ``doc`` gives (an ``_id`` generated here is not given)."""
        if self.target:
            return [self.target]
        return [k for k in self.unique if all(f in doc for f in k) and (k != (ID,) or id(doc) not in generated)]

    def keys(self, docs: Sequence[dict[str, Any]], generated: set[int]) -> Callable[[int], Any]:
        """Row index -> the row's key for ``failed_keys``: its conflict key, or the first unique key it gives."""

        def key(index: int) -> Any:
            doc = docs[index]
            given = self._given(doc, generated)
            return self.value(doc, given[0]) if given else doc[ID]

        return key

    def names(self, docs: Sequence[dict[str, Any]], generated: set[int]) -> Namer:
        """Rows named by their conflict key, or (no conflict key) by the unique keys they give,
        never by an ``_id`` generated here (``generated``: ids of those documents)."""

        def name(index: int) -> str:
            doc = docs[index]
            fields = [f for key in self._given(doc, generated) for f in key]
            return self.describe(doc, dict.fromkeys(fields)) or f"row {index}"

        return name


def insert_rows(connection: Any, collection: Any, batches: Iterable[tuple[list[Row], Conflict]], mode: str) -> int:
    """Write every batch with ``on_conflict`` ``mode``; return the rows written.

    ``"ignore"`` keeps the first of rows sharing a conflict key and counts the
    rows inserted; ``"update"`` merges them (the last wins) and counts the
    distinct rows written, overwriting only the fields each row gave. A row
    colliding on another unique key than the conflict key fails the batch before
    any of it is written, wherever that can be known by reading first.
    """
    written = 0
    try:
        for batch, conflict in batches:
            generated = set()
            for doc, _ in batch:
                # A key chosen here, not by the driver, so failures can always be named.
                if ID not in doc:
                    doc[ID] = ObjectId()
                    generated.add(id(doc))
            if mode != "error" and (conflict.target != (ID,) or conflict.others):
                written += _by_conflict_key(connection, collection, batch, mode, conflict, generated, written)
            elif mode == "update":
                written += _upsert(connection, collection, batch, written, conflict, generated)
            else:
                docs = [doc for doc, _ in batch]
                if mode == "ignore":
                    docs = _first_per_key(docs, (ID,))
                written += _insert(connection, collection, docs, mode, written, conflict, generated)
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
    if not isinstance(key, Hashable):
        return False
    try:
        hash(key)  # a tuple holding a list is not
    except TypeError:
        return False
    return True


def _first_per_key(docs: list[dict[str, Any]], target: tuple[str, ...]) -> list[dict[str, Any]]:
    seen: set[Any] = set()
    out = []
    single = target[0] if len(target) == 1 else None
    for doc in docs:
        if single is not None:
            key, given = doc.get(single), single in doc
        else:
            key, given = tuple(doc.get(f) for f in target), all(f in doc for f in target)
        if given and _hashable(key):
            if key in seen:
                continue
            seen.add(key)
        out.append(doc)
    return out


def _insert(
    connection: Any,
    collection: Any,
    docs: list[dict[str, Any]],
    mode: str,
    before: int,
    conflict: Conflict,
    generated: set[int],
) -> int:
    keys, names = conflict.keys(docs, generated), conflict.names(docs, generated)
    if mode == "ignore" and connection.in_transaction:
        # Any failed write aborts a MongoDB transaction: skip existing keys by upserting instead.
        result = run_ops(connection, collection, [("update", {ID: d[ID]}, {"$setOnInsert": d}, True) for d in docs])
        return result["nUpserted"]
    try:
        connection.executor.insert_many(InsertCommand(collection.name, docs))
        return len(docs)
    except mongo_errors.BulkWriteError as exc:
        details = exc.details
        errors = details.get("writeErrors", [])
        if mode == "ignore":
            errors = [e for e in errors if e.get("code") not in DUPLICATE_CODES]
        inserted = details.get("nInserted", 0)
        if not errors and not details.get("writeConcernErrors"):
            return inserted
        raise bulk_failure("bulk_insert", details, keys, before + inserted, connection, names) from exc


def _merge(batch: list[Row], target: tuple[str, ...]) -> tuple[list[tuple[dict[str, Any], set[str]]], list[dict]]:
    """One document per conflict key (the fields given by the rows sharing it, the last
    winning) and the documents without one (to insert as they are)."""
    merged: dict[Any, tuple[dict[str, Any], set[str]]] = {}
    loose: list[dict[str, Any]] = []
    for doc, given in batch:
        key = tuple(doc.get(f) for f in target)
        if not all(f in given for f in target) or not _hashable(key):
            loose.append(doc)  # a generated key: nothing to update, a plain insert
        elif key in merged:
            old, old_given = merged[key]
            merged[key] = ({**old, **{k: doc[k] for k in given}}, old_given | given)
        else:
            merged[key] = (doc, set(given))
    return list(merged.values()), loose


def _upsert_ops(
    merged: list[tuple[dict[str, Any], set[str]]], loose: list[dict], target: tuple[str, ...]
) -> tuple[list[Op], list[dict[str, Any]]]:
    """Upserts by the conflict key (the fields given overwrite, the rest only fill a new
    document, whose ``_id`` never changes) and inserts; with the document of each op."""
    ops: list[Op] = []
    for doc, given in merged:
        update = {}
        changes = {k: v for k, v in doc.items() if k in given and k != ID and k not in target}
        # The _id of a new document only: an existing one keeps its own.
        defaults = {
            k: v for k, v in doc.items() if (k not in given and k not in target) or (k == ID and ID not in target)
        }
        if changes:
            update["$set"] = changes
        if defaults:
            update["$setOnInsert"] = defaults
        key = {f: doc[f] for f in target}
        ops.append(("update", key, update or {"$setOnInsert": key}, True))
    ops.extend(("insert", doc) for doc in loose)
    return ops, [doc for doc, _ in merged] + loose


def _upsert(
    connection: Any, collection: Any, batch: list[Row], before: int, conflict: Conflict, generated: set[int]
) -> int:
    merged, loose = _merge(batch, conflict.target)
    ops, docs = _upsert_ops(merged, loose, conflict.target)
    _run_upserts(connection, collection, ops, docs, before, conflict, generated)
    return len(ops)


def _run_upserts(
    connection: Any,
    collection: Any,
    ops: list[Op],
    docs: list[dict[str, Any]],
    before: int,
    conflict: Conflict,
    generated: set[int],
) -> None:
    pending = list(range(len(ops)))
    for attempt in range(UPSERT_ATTEMPTS):
        try:
            run_ops(connection, collection, [ops[i] for i in pending])
            return
        except mongo_errors.BulkWriteError as exc:
            d = exc.details
            raced = _raced_upserts(connection, [ops[i] for i in pending], d.get("writeErrors", []))
            if raced is None or attempt == UPSERT_ATTEMPTS - 1:
                errors = [{**e, "index": pending[e["index"]]} for e in d.get("writeErrors", [])]
                done = d.get("nUpserted", 0) + d.get("nMatched", 0) + d.get("nInserted", 0)
                keys, names = conflict.keys(docs, generated), conflict.names(docs, generated)
                details = {**d, "writeErrors": errors}
                raise bulk_failure("bulk_insert", details, keys, before + done, connection, names) from exc
            pending = [pending[i] for i in raced]


#: Runs of the upserts that lost a race: another writer inserted the same key between
#: the upsert's match and its insert (MongoDB retries this itself; FerretDB does not).
UPSERT_ATTEMPTS = 3


def _raced_upserts(connection: Any, ops: Sequence[Op], errors: list[dict[str, Any]]) -> list[int] | None:
    """The ops to run again when every failure is an upsert that met a duplicate key (a
    concurrent insert of the same key: run again, it updates that document), with the ops
    of the calls ``run_ops`` did not make; ``None`` when any failure is something else."""
    if not errors or not all(
        e.get("code") in DUPLICATE_CODES and ops[e["index"]][0] == "update" and ops[e["index"]][3] for e in errors
    ):
        return None
    size = connection.features.bulk_write_limit or max(len(ops), 1)
    unrun = (max(e["index"] for e in errors) // size + 1) * size  # the calls after the failing one
    return sorted({e["index"] for e in errors}) + list(range(unrun, len(ops)))


def _by_conflict_key(
    connection: Any,
    collection: Any,
    batch: list[Row],
    mode: str,
    conflict: Conflict,
    generated: set[int],
    before: int,
) -> int:
    """``"ignore"``/``"update"`` by a conflict key other than ``_id``, or on a model with
    other unique keys: what would collide on another unique key is found by reading
    first, and fails the batch before any of it is written."""
    target = conflict.target
    if mode == "update":
        merged, loose = _merge(batch, target)
        ops, docs = _upsert_ops(merged, loose, target)
        # What each op writes to the other unique keys: the fields it gives (an update
        # of an existing document sets only those).
        writes = [(doc, given) for doc, given in merged] + [(doc, set(doc)) for doc in loose]
    else:
        docs = _first_per_key([doc for doc, _ in batch], target)
        existing = _stored_keys(connection, collection, docs, target)
        docs = [d for d in docs if not _stored(conflict.value(d, target), existing)]
        writes = [(doc, set(doc)) for doc in docs]
    clashes = _clashes(connection, collection, writes, conflict, generated)
    if clashes:
        raise _clash_error(clashes, writes, conflict, before, connection)
    if mode == "update":
        _run_upserts(connection, collection, ops, docs, before, conflict, generated)
        return len(ops)
    if not docs:
        return 0
    return _insert(connection, collection, docs, "error", before, conflict, generated)


def _stored(value: Any, existing: set[Any]) -> bool:
    return _hashable(value) and value in existing


def _clash_error(
    clashes: dict[int, tuple[str, ...]],
    writes: list[tuple[dict[str, Any], set[str]]],
    conflict: Conflict,
    before: int,
    connection: Any,
) -> DBPluginsError:
    """Rows found, before writing, to duplicate another unique key than the conflict key."""
    shown = [conflict.describe(writes[i][0], fields) for i, fields in sorted(clashes.items())]
    more = f" and {len(shown) - 10} more" if len(shown) > 10 else ""
    message = (
        f"bulk_insert: duplicate key ({'; '.join(shown[:10])}{more}): another row of the call or a stored row "
        "already holds it; nothing of this batch was written"
    )
    failed = [conflict.value(writes[i][0], conflict.target) for i in sorted(clashes)]
    if connection.in_transaction:
        return DuplicateKeyError(message + "; the transaction will be rolled back")
    if before:
        message += f" ({before} row(s) of earlier batches were written and stay written)"
    return BulkDuplicateKeyError(message, written=before, failed_keys=failed)


def _stored_keys(connection: Any, collection: Any, docs: list[dict[str, Any]], fields: Sequence[str]) -> set[Any]:
    """The values of key ``fields`` among ``docs`` that stored documents hold."""
    values = [{f: d[f] for f in fields} for d in docs if all(f in d for f in fields)]
    found: set[Any] = set()
    projection = {f: 1 for f in fields}
    for chunk in batched(values, LOOKUP_CHUNK):
        if len(fields) == 1:
            where: dict[str, Any] = {fields[0]: {"$in": [v[fields[0]] for v in chunk]}}
        else:
            where = {"$or": chunk}
        for doc in connection.executor.find(FindCommand(collection.name, where, projection=projection)):
            found.add(doc.get(fields[0]) if len(fields) == 1 else tuple(doc.get(f) for f in fields))
    return found


def _clashes(
    connection: Any,
    collection: Any,
    writes: list[tuple[dict[str, Any], set[str]]],
    conflict: Conflict,
    generated: set[int],
) -> dict[int, tuple[str, ...]]:
    """Index of each write that would collide on a unique key other than the conflict key
    (with another write of the batch or a stored document) -> that key."""
    target = conflict.target
    clashes: dict[int, tuple[str, ...]] = {}
    for fields in conflict.others:
        holders: dict[Any, int] = {}
        for i, (doc, given) in enumerate(writes):
            if not all(f in given for f in fields) or (fields == (ID,) and id(doc) in generated):
                continue
            value = conflict.value(doc, fields)
            if not _hashable(value):
                continue
            if value in holders and i not in clashes:
                clashes[i] = fields
            holders.setdefault(value, i)
        if not holders:
            continue
        projection = {f: 1 for f in (*fields, *target)}
        keys = list(holders)
        for chunk in batched(keys, LOOKUP_CHUNK):
            if len(fields) == 1:
                where: dict[str, Any] = {fields[0]: {"$in": chunk}}
            else:
                where = {"$or": [dict(zip(fields, value)) for value in chunk]}
            for doc in connection.executor.find(FindCommand(collection.name, where, projection=projection)):
                i = holders.get(conflict.value(doc, fields))
                # A document holding its own value (the one this write updates) is no collision.
                if i is not None and conflict.value(doc, target) != conflict.value(writes[i][0], target):
                    clashes.setdefault(i, fields)
    return clashes


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
        return connection.executor.bulk_write(BulkWriteCommand(collection.name, requests))
    except KeyError:
        # FerretDB 1.24 answers an update that failed inside a bulk_write without "nModified",
        # and pymongo's reply merging breaks. The server has finished the chunk: replay it one
        # operation at a time to learn which failed.
        return _one_by_one(connection, collection, ops, replay=True)


def _one_by_one(connection: Any, collection: Any, ops: Sequence[Op], replay: bool = False) -> dict[str, int]:
    """``run_ops`` one operation per call: for engines without a usable ``bulk_write``
    (mongomock: in process, no round trips to save), and to ``replay`` a chunk already run.

    A replay is safe: updates by key are idempotent, and an insert op carries an ``_id``
    generated here, so finding it stored means the first run inserted it. (On the native
    collection, under one guard: each operation's own ``WriteError`` is read here, not
    translated.)
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
    what: str,
    details: dict[str, Any],
    key_at: Callable[[int], Any],
    written: int,
    connection: Any,
    name_at: Namer | None = None,
) -> DBPluginsError:
    """The error for a partly failed bulk write: what was written and which keys failed
    (``failed_keys`` from ``key_at``; the message names them by ``name_at`` when given)."""
    errors = details.get("writeErrors", [])
    indexes = [e["index"] for e in errors if "index" in e]
    keys = [key_at(i) for i in indexes]
    duplicate = bool(errors) and all(e.get("code") in DUPLICATE_CODES for e in errors)
    if errors:
        reason = "duplicate key" if duplicate else str(errors[0].get("errmsg", "write error")).split(", full error")[0]
    else:
        reason = "write concern error: " + str(details.get("writeConcernErrors", [{}])[0].get("errmsg", "?"))
    names = [name_at(i) for i in indexes[:10]] if name_at is not None else [repr(k) for k in keys[:10]]
    shown = "; ".join(names) + (f" and {len(keys) - 10} more" if len(keys) > 10 else "")
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
