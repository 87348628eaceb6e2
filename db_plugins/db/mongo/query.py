"""The query interface on Mongo (``MongoConnection.query(Model)``).

``filter_by`` is always the portable dict language (checked, so ``$where`` and
friends never reach the server); the native pymongo ``Collection`` is
``query.collection``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from pymongo import errors as mongo_errors

from ...errors import (
    ConnectionError,
    DuplicateKeyError,
    FilterError,
    NotFoundError,
    ValidationError,
)
from ...filters import And, Compare, Node, Or, compares, exact, refused_float
from ..generic import (
    BaseQuery,
    batched,
    check_bulk_update,
    check_conflict_on,
    check_on_conflict,
    check_rows,
    describe,
    equalities,
    resolve_conflict_on,
)
from . import bulk
from .checks import RowChecker
from .commands import CountCommand, DeleteCommand, FindCommand, InsertCommand, UpdateCommand
from .filters import MongoCompiler
from .locks import document_lock, lock_id
from .models import ID, BaseModel, from_document, index_models, schema, to_document, unique_keys

__all__ = ["MongoQuery"]

UPSERT_ATTEMPTS = 5


class MongoQuery(BaseQuery[BaseModel, dict]):
    """``db.query(Model)`` for a :class:`~db_plugins.db.mongo.BaseModel` subclass."""

    def __init__(self, connection: Any, model: Any) -> None:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise ValidationError(f"query: {model!r} is not a Mongo model (a db_plugins.db.mongo.BaseModel subclass)")
        if not model.__tablename__:
            raise ValidationError(f"query: {model.__name__} has no __tablename__ (the collection name)")
        super().__init__(connection, model, schema(model), (model.__primary_key__ or ID,))
        self._name = model.__tablename__
        self.executor = connection.executor
        #: The native pymongo ``Collection`` (the one the executor runs commands on).
        self.collection = self.executor.collection(self._name)
        self._unique = unique_keys(model)
        # The unique keys in stored names (_id first) and as the caller names them (conflict_on).
        self._stored_keys: list[tuple[str, ...]] = [(ID,)]
        for index in index_models(model):
            spec = index.document
            fields = tuple(spec["key"])
            if spec.get("unique") and not spec.get("partialFilterExpression") and fields not in self._stored_keys:
                self._stored_keys.append(fields)
        pk = self.primary_key[0]
        self._conflict_keys = [tuple(pk if f == ID else f for f in key) for key in self._stored_keys]
        self.compiler = MongoCompiler(model.__primary_key__, self.schema)
        self.checks = RowChecker(model, connection.features)

    # -- schema -------------------------------------------------------------------

    def _compile(self, node: Node) -> dict:
        features = self.features
        if not features.nonfinite_floats or not features.decimal128:
            node = exact(node, self.schema)  # what will be sent (the compiler would do it too)
            for compare in compares(node):
                # FerretDB drops the connection on a NaN, and on any Decimal128 operand.
                refused = None if features.nonfinite_floats else refused_float(compare, ("nan", "inf"))
                if not features.decimal128 and self.schema[compare.field].kind not in ("int", "float"):
                    found = compare.value if isinstance(compare.value, tuple) else (compare.value,)
                    refused = refused or ("a Decimal" if any(isinstance(v, Decimal) for v in found) else None)
                if refused:
                    raise FilterError(
                        f"filter_by[{compare.field!r}]: {features.describe()} cannot compare with {refused}"
                    )
        return self.compiler.compile(node)

    def _and(self, left: dict, right: dict) -> dict:
        return self.compiler.and_(left, right)

    def _value(self, instance: BaseModel, field: str) -> Any:
        return instance.get(field)

    def _instance(self, document: Mapping[str, Any]) -> BaseModel:
        return from_document(self.model, document)

    # -- reads ----------------------------------------------------------------------

    def _find(
        self,
        where: dict,
        order: Sequence[tuple[str, bool]],
        *,
        skip: int = 0,
        limit: int = 0,
        batch_size: int = 0,
        fields: tuple[str, ...] | None = None,
    ) -> FindCommand:
        """The one ``find`` every read runs (``find_one``, ``paginate``, ``find_all``, ``get_or_create``...)."""
        # At most one document matches a filter that pins a unique key: no order to keep, and
        # a sort can cost a server its index lookup (FerretDB 1.24 then scans: 2x on find_one).
        sort = None if self._at_most_one(where) else self.compiler.sort(order)
        projection = None if fields is None else {self.compiler.stored(name): True for name in fields}
        return FindCommand(self._name, where, sort, projection, skip, limit, batch_size)

    def _native(self, where: dict, order: Sequence[tuple[str, bool]]) -> tuple[dict, list[tuple[str, int]]]:
        return where, self.compiler.sort(order)

    def _at_most_one(self, where: dict) -> bool:
        clauses = where["$and"] if len(where) == 1 and "$and" in where else [where]
        pinned = set()
        for clause in clauses:
            for key, condition in clause.items():
                if type(condition) is dict and len(condition) == 1:
                    value = condition.get("$eq")
                    if value is not None and not isinstance(value, (dict, list)):
                        pinned.add(key)
        return any(keys <= pinned for keys in self._unique)

    def _fetch(
        self,
        where: dict,
        order: Sequence[tuple[str, bool]],
        limit: int | None,
        offset: int = 0,
        fields: tuple[str, ...] | None = None,
    ) -> list:
        command = self._find(where, order, skip=offset, limit=limit or 0, fields=fields)
        return self.executor.find(command, self._builder(fields))

    def _count(self, where: dict, limit: int | None = None) -> int:
        return self.executor.count(CountCommand(self._name, where, limit or 0))

    def _stream(
        self, where: dict, order: Sequence[tuple[str, bool]], batch_size: int, fields: tuple[str, ...] | None = None
    ) -> Iterator[BaseModel]:
        return self.executor.stream(
            self._find(where, order, batch_size=batch_size, fields=fields), self._builder(fields)
        )

    def _builder(self, fields: tuple[str, ...] | None) -> Any:
        """Documents to instances (of a read of ``fields`` only: the others raise FieldNotLoaded)."""
        if fields is None:
            return self._instance
        model = self.model
        return lambda document: from_document(model, document, fields)

    def _first(self, where: dict) -> BaseModel | None:
        rows = self._fetch(where, self.parse_order(None), 1)
        return rows[0] if rows else None

    # -- writes -----------------------------------------------------------------------

    def insert(self, obj: Any) -> BaseModel:
        values = self.checks.row(obj, "insert")
        document = to_document(self.model, values)
        self.executor.insert_one(InsertCommand(self._name, (document,)))
        stored = self._instance(document)
        if isinstance(obj, self.model):
            dict.update(obj, stored)
            return obj
        return stored

    def bulk_insert(
        self, rows: Iterable[Any], on_conflict: str = "error", conflict_on: str | Sequence[str] | None = None
    ) -> int:
        """Store many rows by ``insert_many(ordered=False)`` (``"update"``: upserts by ``bulk_write``).

        Each batch is checked before any of it is sent. ``"ignore"``/``"update"``
        by a ``conflict_on`` other than the key, or on a model with other unique
        indexes, first read which rows exist and which would collide on another
        unique key (failing the batch before any of it is written). Where the
        server has transactions the whole call runs in one and writes all or
        nothing; elsewhere a failure raises :class:`~db_plugins.BulkWriteError`
        (a :class:`~db_plugins.BulkDuplicateKeyError` when only duplicate keys
        failed) with ``written`` and ``failed_keys``.
        """
        check_on_conflict(on_conflict)
        target = check_conflict_on(conflict_on, self._conflict_keys, self.model_name)
        check_rows(rows, self.model_name)
        pk = self.model.__primary_key__
        checked = 0
        upsert = on_conflict == "update"
        nothing: frozenset[str] = frozenset()
        stored_name = dict(zip(itertools.chain(*self._conflict_keys), itertools.chain(*self._stored_keys)))
        conflict: bulk.Conflict | None = None
        if on_conflict == "error":
            target = ()
        if target is not None:
            conflict = bulk.Conflict(tuple(stored_name[f] for f in target), self._stored_keys, pk)

        def row(obj: Any) -> bulk.Row:
            nonlocal checked
            try:
                values = self.checks.row(obj, f"bulk_insert row {checked}")
            except ValidationError as exc:
                exc.row = checked  # for dbp load, which names the row's line
                raise
            checked += 1
            # An upsert overwrites only the fields the row gave.
            given = frozenset(ID if k == pk else k for k in obj) if upsert else nothing
            return to_document(self.model, values), given

        def batches() -> Iterator[tuple[list[bulk.Row], bulk.Conflict]]:
            nonlocal checked, conflict
            # A copy as each row is read: a generator may hand out one dict over and over.
            copies = (obj.copy() if type(obj) is dict else obj for obj in rows)
            for batch in batched(copies, self.features.bulk_batch_size):
                if conflict is None:
                    # The fields the first batch's rows give decide the conflict key.
                    shapes = {tuple(obj) for obj in batch if isinstance(obj, Mapping)}
                    carried = ([pk if k == ID and pk else k for k in shape] for shape in shapes)
                    fields = resolve_conflict_on(self._conflict_keys, carried, self.model_name, on_conflict)
                    conflict = bulk.Conflict(tuple(stored_name[f] for f in fields), self._stored_keys, pk)
                # The fields the rows give (all alike when the column check applies), before defaults.
                first = batch[0]
                given = frozenset(ID if k == pk else k for k in first) if upsert and type(first) is dict else nothing
                documents = self.checks.documents(batch)
                if documents is None:
                    yield [row(obj) for obj in batch], conflict
                    continue
                checked += len(batch)
                yield [(document, given) for document in documents], conflict

        if self.features.atomic_bulk and not self.connection.in_transaction:
            with self.connection.transaction():
                return bulk.insert_rows(self.connection, self.collection, batches(), on_conflict)
        return bulk.insert_rows(self.connection, self.collection, batches(), on_conflict)

    def update(self, instance: Any, attrs: Mapping[str, Any]) -> BaseModel:
        key = self.checks.key_of(instance, "update")
        changes = self.checks.changes(attrs, "update", key)
        if not changes:
            return instance
        stored = self.executor.find_one_and_update(UpdateCommand(self._name, {ID: key}, {"$set": changes}))
        if stored is None:
            raise NotFoundError(f"update: no {self.model_name} with {self.primary_key[0]}={key!r} (deleted?)")
        dict.clear(instance)
        dict.update(instance, self._instance(stored))
        return instance

    def bulk_update(self, instances: Sequence[Any], attrs_list: Sequence[Mapping[str, Any]]) -> int:
        """Apply ``attrs_list[i]`` to ``instances[i]``: one unordered ``bulk_write`` per batch.

        Returns how many documents matched. Everything is checked before the
        first batch is sent.
        """
        check_bulk_update(instances, attrs_list)
        plans = []
        for instance, attrs in zip(instances, attrs_list):
            key = self.checks.key_of(instance, "bulk_update")
            plans.append((instance, key, self.checks.changes(attrs, "bulk_update", key)))
        ops = [("update", {ID: key}, {"$set": changes}, False) for _, key, changes in plans if changes]
        matched = 0
        for batch in batched(ops, self.features.bulk_batch_size):
            try:
                matched += bulk.run_ops(self.connection, self.collection, batch)["nMatched"]
            except mongo_errors.BulkWriteError as exc:
                details = exc.details
                keys = [op[1][ID] for op in batch]
                raise bulk.bulk_failure(
                    "bulk_update", details, keys.__getitem__, matched + details.get("nMatched", 0), self.connection
                ) from exc
        for instance, _, changes in plans:
            dict.update(instance, self._instance(changes))
        return matched

    def _delete(self, where: dict) -> int:
        chunk = self.features.delete_chunk
        # The chunk-th matching _id in key order.
        bound = None if chunk is None else self._find(where, ((ID, False),), skip=chunk - 1, limit=1)
        deleted = 0
        while True:
            # One round holds the write lock of an in-process engine from its read to its delete.
            with self.connection.guard(write=True):
                # At most ``chunk`` at a time: bounded by the chunk-th matching _id (a range is
                # cheap on FerretDB, a long $in list is not). Other BSON types than that _id's
                # are left for the next round, so every round deletes at least one document.
                last = [] if bound is None else self.executor.find(bound)
                if not last:
                    return deleted + self.executor.delete_many(DeleteCommand(self._name, where))
                bounded = self.compiler.and_(where, {ID: {"$lte": last[0][ID]}})
                deleted += self.executor.delete_many(DeleteCommand(self._name, bounded))

    def _update_many(self, where: dict, attrs: Mapping[str, Any]) -> int:
        changes = self.checks.changes(attrs, "update_many")
        try:
            return self.executor.update_many(UpdateCommand(self._name, where, {"$set": changes}))
        except ConnectionError as exc:
            if self.connection.in_transaction:
                raise
            # Without a transaction the server applies the update document by document.
            raise ConnectionError(
                f"update_many: {exc}; some of the matching documents may have been updated already "
                "(no transaction on this server; $set is idempotent: run the update again to complete it)"
            ) from exc

    # -- get_or_create ------------------------------------------------------------------

    def _get_or_create(self, filter_by: Mapping[str, Any], **defaults: Any) -> tuple[BaseModel, bool]:
        """The first document matching ``filter_by``, or a new one made of its equalities and ``defaults``.

        A hit costs one round trip. On a miss, when a unique index covers the
        filter's equalities the document is inserted, and a caller that loses
        the race on the index reads the winner's document (inside a
        transaction, where a failed write would abort it, one atomic upsert
        with ``$setOnInsert`` instead); otherwise a lock document in
        ``_dbp_locks`` makes concurrent callers (threads or processes) take
        turns at find-then-insert, so one document is created whatever the index.
        """
        if not isinstance(filter_by, Mapping) or not filter_by:
            raise FilterError("get_or_create: filter_by must be a non-empty dict")
        node = self.parse_filter(filter_by)
        where = self._compile(node)
        given = {**equalities(node), **defaults}
        self.checks.row(given, "get_or_create", partial=True)  # bad values are refused before any I/O
        found = self._first(where)
        if found is not None:
            return found, False
        # Only a new document needs every required field (as on SQL engines, a hit is returned as it is).
        document = to_document(self.model, self.checks.row(given, "get_or_create"))
        if self.connection.in_transaction:
            # A failed write would abort the caller's transaction: upsert, which cannot fail on the key.
            return self._upsert(where, document)
        pinned = {k for k, v in document.items() if v is not None and self._pinned(node, k)}
        if any(keys <= pinned for keys in self._unique):
            # The unique index arbitrates: whoever loses the insert reads the winner's document.
            return self._insert_or_read(where, document)
        name = lock_id("get_or_create", self._name, _canonical(node))
        with document_lock(self.connection, name):
            found = self._first(where)
            if found is not None:
                return found, False
            return self._insert_or_read(where, document)

    def _pinned(self, node: Node, stored: str) -> bool:
        """Whether the filter fixes stored field ``stored`` by equality."""
        return any(self.compiler.stored(f) == stored for f in equalities(node))

    def _insert_or_read(self, where: dict, document: dict[str, Any]) -> tuple[BaseModel, bool]:
        try:
            self.executor.insert_one(InsertCommand(self._name, (document,)))
        except DuplicateKeyError as exc:
            found = self._first(where)
            if found is None:
                raise DuplicateKeyError(
                    f"get_or_create: {self.model_name} with {describe(document)} conflicts with another document"
                ) from exc
            return found, False
        return self._instance(document), True

    def _upsert(self, where: dict, document: dict[str, Any]) -> tuple[BaseModel, bool]:
        for _ in range(UPSERT_ATTEMPTS):
            try:
                result = self.executor.update_one(UpdateCommand(self._name, where, {"$setOnInsert": document}, True))
            except DuplicateKeyError:
                # Two upserts raced on the unique key; the other one created the document.
                result = None
            if result is not None and result.upserted_id is not None:
                return self._instance({ID: result.upserted_id, **document}), True
            found = self._first(where)
            if found is not None:
                return found, False
        raise DuplicateKeyError(
            f"get_or_create: {self.model_name} with {describe(document)} conflicts with another document"
        )


def _canonical(node: Node) -> str:
    """The same text for the same filter, whatever the order of its keys."""
    if isinstance(node, Compare):
        return repr((node.field, node.op, node.value))
    parts = sorted(_canonical(child) for child in node.clauses)
    return ("and" if isinstance(node, And) else "or" if isinstance(node, Or) else "?") + "(" + ",".join(parts) + ")"
