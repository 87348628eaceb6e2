"""Bulk writes on SQL engines: the fastest correct path the dialect allows.

``bulk_insert`` reads its rows in batches of ``features.bulk_batch_size`` and,
for each batch:

1. snapshots every row as it is read (a generator may reuse one dict), keeps
   one row per conflict key (``conflict_on``: by default the primary key, or the
   one unique key the rows give) for ``"ignore"`` (the first) and ``"update"``
   (the last), and groups the rows by the fields they give;
2. turns each group into columns and checks them column by column
   (:class:`~db_plugins.db.sql.checks.Checker`): one ``set(map(type, values))`` per column on the common
   path instead of a function call per value -- the same checks, the same
   messages as the one-row methods. Every group of the batch is checked before
   any of it is sent;
3. sends each group by the fastest path the dialect has:

   * ``"ignore"``/``"update"`` where the dialect has no upsert statement, or one
     that would decide by another key than the conflict key
     (``features.upsert_any_unique_key``: MySQL's fire on any unique key): the
     stored conflict keys are read first, the new rows inserted by the paths
     below and the others updated by their conflict key;
   * the dialect's own fast path, ``ops.fast_insert`` (db_plugins.db.sql.dialects:
     ``COPY`` on PostgreSQL, the driver's ``executemany`` on SQLite, multi-row
     ``INSERT`` statements rendered with PyMySQL's escaping on MariaDB), which
     may decline a group;
   * otherwise SQLAlchemy's executemany (``insertmanyvalues``) of the dialect's
     INSERT or upsert statement.

   Values reach the fast paths through the same SQLAlchemy bind processors and
   Python-side column defaults as SQLAlchemy's own path, so the rows stored are
   the same (datetimes arrive converted to UTC by the checks and the bind
   processors of db_plugins.db.sql.datetimes). A group holding a value a fast
   path cannot send exactly as SQLAlchemy would (a type ``COPY`` has no safe
   text form for, a SQL-expression default) takes SQLAlchemy's path.

Every function here runs inside the caller's transaction, so a failure in any
batch leaves nothing written.

A list inserted in a transaction of its own may instead go to the dialect's
stream (``ops.stream_insert``: one binary ``COPY`` on asyncpg), which asks for
its batches one after the other, each read and checked (as above) while the
server takes the one before; a value refused there aborts the stream.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any

import sqlalchemy as sa

from ...errors import ValidationError
from ..generic import batched, resolve_conflict_on
from .checks import Checker, NullInColumn
from .dialects.base import SQLFeatures, SQLOperations

__all__ = ["batched", "default_filler", "RowWriter", "update_rows"]

UPDATE_BATCH = 500

_NONE = type(None)


class _Shape:
    """Everything about inserting rows that give one set of fields, in one mode,
    against one conflict key (``target``: the fields deciding "already exists"; cached)."""

    def __init__(self, writer: RowWriter, keys: tuple[str, ...], mode: str, target: tuple[str, ...] = ()) -> None:
        self.writer = writer
        self.table = writer.table
        self.keys = keys
        self.mode = mode
        self.target = target
        table = writer.table
        self.columns = [writer.columns[k] for k in keys]
        given = {c.key: i for i, c in enumerate(self.columns)}
        # Every column sent, in table order (as SQLAlchemy's INSERT lists them):
        # the given ones and those with a Python-side default SQLAlchemy would apply.
        self.all_columns: list[sa.Column] = []
        self._slots: list[int | Callable[[int], list[Any]]] = []
        self.fast = True
        for column in [*table.columns, *(c for c in self.columns if c.table is not table)]:
            if column.key in given:
                self._slots.append(given[column.key])
            elif column.default is None or column.table is not table:
                continue
            else:
                fill = default_filler(column.default)
                if fill is None:
                    self.fast = False  # a SQL expression, a sequence, a context-sensitive callable
                    continue
                self._slots.append(fill)
            self.all_columns.append(column)
        self.processors = [_column_processor(c, writer.ops) for c in self.all_columns]
        self.pk = [c.key for c in table.primary_key.columns]
        # The row's values in this shape's order, straight from a dict giving exactly these keys.
        self.getter: Callable[[Mapping[str, Any]], tuple[Any, ...]] = _getter(list(keys)) if keys else _empty
        self.target_columns = [writer.columns[k].key for k in target]
        # The conflict key of a row of values (None when the shape does not give all of it).
        positions = [keys.index(k) for k in target] if target and set(target) <= set(keys) else None
        self.key_of: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = (
            _getter(positions) if positions is not None else None
        )
        uuid_key = tuple(writer.checker.kind(k) == "uuid" for k in target)
        self.uuid_key = uuid_key if any(uuid_key) else None
        # The dialect's own upsert statement decides "already exists" by the conflict key
        # alone -- or, where it fires on any unique key (MySQL's ON DUPLICATE KEY / INSERT
        # IGNORE), when no other unique key can collide. Otherwise the existing keys are
        # read first (see RowWriter._write_by_lookup).
        features = writer.features
        self.native = mode == "error" or (
            features.upsert is not None and (not features.upsert_any_unique_key or self._alone())
        )
        # A required field these rows lack (refused when the shape is met), and the
        # positions of NOT NULL fields they give (one ``None in column`` test each per batch).
        self.missing = writer.checker.missing(keys)
        self.not_null = frozenset(i for i, k in enumerate(keys) if k in writer.checker.not_null)
        self._driver_sql: str | None = None
        #: What the dialect's fast path computes once per shape (its statement, its encoders).
        self.cache: dict[str, Any] = {}

    def _alone(self) -> bool:
        """No unique key but the conflict key can collide: each other one has a column
        this shape does not send and the server fills with NULL (never equal) or an
        AUTO_INCREMENT value (never taken)."""
        sent = {c.key for c in self.all_columns}
        for fields in self.writer.unique_keys:
            if fields == self.target:
                continue
            columns = [self.writer.columns[k] for k in fields]
            if not any(c.key not in sent and c.server_default is None for c in columns):
                return False
        return True

    # -- statements ------------------------------------------------------------

    def statement(self, keys: Sequence[str]) -> Any:
        """The SQLAlchemy INSERT for this mode (``keys`` are the columns given)."""
        ops = self.writer.ops
        if self.mode == "error":
            return ops.insert(self.table)
        target = self.target_columns
        # An existing row keeps its primary key (as MongoDB's immutable _id does).
        others = [k for k in keys if k not in target and k not in self.pk]
        return ops.upsert_statement(self.table, self.mode, target, others)

    def driver_sql(self) -> str | None:
        """The positional driver statement for every column (given + defaulted), or ``None``."""
        if self._driver_sql is None:
            keys = [c.key for c in self.all_columns]
            compiled = self.statement([c.key for c in self.columns]).compile(
                dialect=self.writer.dialect, column_keys=keys
            )
            if not self.writer.dialect.positional or list(compiled.positiontup or ()) != keys:
                self._driver_sql = ""
            else:
                self._driver_sql = compiled.string
        return self._driver_sql or None

    # -- values ----------------------------------------------------------------

    def complete(self, columns: list[Sequence[Any]], n: int) -> list[Sequence[Any]]:
        """The values of :attr:`all_columns`: the given columns and the defaulted ones."""
        return [columns[slot] if isinstance(slot, int) else slot(n) for slot in self._slots]

    def processed(self, columns: list[Sequence[Any]]) -> list[Sequence[Any]]:
        """Columns through their SQLAlchemy bind processors (what the driver would receive)."""
        try:
            return [values if proc is None else proc(values) for proc, values in zip(self.processors, columns)]
        except (TypeError, ValueError, ArithmeticError) as exc:
            # Called here, not by SQLAlchemy (which would wrap it in a StatementError): a value of
            # the caller's that the column type cannot convert.
            raise ValidationError(f"bulk_insert: invalid value for {self.writer.checker.model_name}: {exc}") from exc

    def params(self, columns: list[Sequence[Any]]) -> list[dict[str, Any]]:
        """Rows as SQLAlchemy parameter dicts (given columns only: SQLAlchemy applies the defaults)."""
        names = [c.key for c in self.columns]
        return [dict(zip(names, row)) for row in zip(*columns)]


def default_filler(default: Any) -> Callable[[int], list[Any]] | None:
    """A function giving ``n`` values of a Python-side column default, or ``None``."""
    if getattr(default, "is_scalar", False):
        value = default.arg
        return lambda n: [value] * n
    if getattr(default, "is_callable", False):
        fn = getattr(default, "_fn", None)
        # SQLAlchemy wraps a callable taking no argument; one taking the
        # execution context cannot run outside of SQLAlchemy's executemany.
        if fn is not None and default.arg is not fn:
            return lambda n: [fn() for _ in range(n)]
    return None


def _column_processor(column: sa.Column, ops: SQLOperations) -> Callable[[Sequence[Any]], Sequence[Any]] | None:
    """A function putting a whole column through the column type's bind processor (``None``: nothing to do)."""
    dialect = ops.dialect
    impl = column.type.dialect_impl(dialect)
    process = impl.bind_processor(dialect)
    if process is None:
        return None
    faster = ops.bulk_processor(impl, process)
    if faster is not None:
        return faster
    if isinstance(impl, sa.Boolean) and not isinstance(impl, sa.types.TypeDecorator):
        # The processor checks the value and makes it a bool or an int: a bool
        # already is one, which every fast path's driver sends as the int would be.
        return lambda values: values if set(map(type, values)) <= _BOOLS else list(map(process, values))
    return lambda values: list(map(process, values))


_BOOLS = frozenset({bool, _NONE})


class RowWriter:
    """``bulk_insert`` for one table on one engine (see the module's docstring)."""

    def __init__(
        self,
        table: sa.Table,
        columns: Mapping[str, sa.Column],
        checker: Checker,
        ops: SQLOperations,
        unique_keys: Sequence[tuple[str, ...]] = (),
    ) -> None:
        self.table = table
        self.columns = dict(columns)
        self.checker = checker
        self.ops = ops
        self.features = ops.features
        self.dialect = ops.dialect
        positions = {column.key: i for i, column in enumerate(table.columns)}
        # Canonical field order: the table's column order.
        self._order = {
            key: positions.get(column.key, len(positions) + i) for i, (key, column) in enumerate(columns.items())
        }
        by_column = {column.key: key for key, column in self.columns.items()}
        self.pk = tuple(by_column[c.key] for c in table.primary_key.columns)
        #: The unique keys as field names, the primary key first (conflict_on names one).
        self.unique_keys = [tuple(k) for k in unique_keys] or [self.pk]
        # (keys as given, mode, conflict key) -> (shape, getter putting the values in canonical order or None)
        self._seen: dict[tuple[tuple[Any, ...], str, tuple[str, ...]], tuple[_Shape, Any]] = {}
        self._shapes: dict[tuple[tuple[str, ...], str, tuple[str, ...]], _Shape] = {}

    def _shape(self, keys: tuple[Any, ...], mode: str, target: tuple[str, ...], what: str) -> tuple[_Shape, Any]:
        """The shape of rows giving ``keys`` (in this order) and the getter reordering their values."""
        found = self._seen.get((keys, mode, target))
        if found is None:
            self.checker.keys(keys, what)
            canonical = tuple(sorted(keys, key=self._order.__getitem__))
            reorder = None if canonical == keys else _getter([keys.index(k) for k in canonical])
            found = self._seen[(keys, mode, target)] = (self._canonical_shape(canonical, mode, target), reorder)
        return found

    def _canonical_shape(self, canonical: tuple[str, ...], mode: str, target: tuple[str, ...]) -> _Shape:
        shape = self._shapes.get((canonical, mode, target))
        if shape is None:
            shape = self._shapes[(canonical, mode, target)] = _Shape(self, canonical, mode, target)
        return shape

    # -- reading ---------------------------------------------------------------

    def _read(
        self,
        rows: Iterator[Any],
        mode: str,
        target: tuple[str, ...],
        normalize: Callable[[Any], dict[str, Any]],
        what: str,
        whole: bool = False,
    ) -> tuple[dict[_Shape, list[tuple[Any, ...]]], list[_Shape] | None]:
        """One batch: value tuples (in their shape's field order) grouped by shape,
        and the shape of each row in input order once there is more than one shape.

        Each row's values are copied out as it is read (a generator may reuse
        its dict). In the common case -- every row giving the same fields -- a
        row costs one ``len`` and one ``itemgetter`` call; from a list (``whole``:
        its dicts are read once each, as they are), each of these runs over the
        batch in C.
        """
        if whole:
            batch = list(itertools.islice(rows, self.features.bulk_batch_size))
            with _gc_paused():  # (no code of the caller's runs here)
                alike = self._read_alike(batch, mode, target, what)
            if alike is not None:
                return alike, None
            rows = iter(batch)
        groups: dict[_Shape, list[tuple[Any, ...]]] = {}
        order: list[_Shape] | None = None
        bucket: list[tuple[Any, ...]] = []
        shape: _Shape | None = None
        width, getter = -1, _no_values
        for row in itertools.islice(rows, self.features.bulk_batch_size):
            if type(row) is not dict:
                row = normalize(row)
            if len(row) == width:
                try:
                    bucket.append(getter(row))
                except KeyError:
                    pass
                else:
                    if order is not None:
                        order.append(shape)  # type: ignore[arg-type]
                    continue
            shape, reorder = self._shape(tuple(row), mode, target, what)
            values = tuple(row.values())
            if shape not in groups and groups and order is None:
                order = [s for s, v in groups.items() for _ in v]
            bucket = groups.setdefault(shape, [])
            bucket.append(values if reorder is None else reorder(values))
            if order is not None:
                order.append(shape)
            width, getter = len(shape.keys), shape.getter
        return groups, order

    def _read_alike(
        self, batch: list[Any], mode: str, target: tuple[str, ...], what: str
    ) -> dict[_Shape, list[tuple[Any, ...]]] | None:
        """``batch`` as one group when every row is a dict giving the same fields, else ``None``."""
        if not batch or type(batch[0]) is not dict:
            return None
        shape, _ = self._shape(tuple(batch[0]), mode, target, what)
        if set(map(type, batch)) != {dict} or set(map(len, batch)) != {len(shape.keys)}:
            return None
        try:
            # As many fields as the shape, each of them: the shape's fields, in its order.
            return {shape: list(map(shape.getter, batch))}
        except KeyError:
            return None

    def _distinct(
        self, groups: dict[_Shape, list[tuple[Any, ...]]], order: list[_Shape] | None, keep_last: bool
    ) -> dict[_Shape, list[tuple[Any, ...]]]:
        """One row per conflict key (the first or the last given), sorted by key so that
        concurrent writers lock rows in the same order; rows without a key are kept."""
        uuid_key = next(iter(groups)).uuid_key  # every shape of a call has the same conflict key
        if order is None and len(groups) == 1 and uuid_key is None:
            quick = _distinct_one_shape(*next(iter(groups.items())), keep_last)
            if quick is not None:
                return quick
        if order is None:
            entries: Iterable[tuple[_Shape, tuple[Any, ...]]] = ((s, v) for s, vs in groups.items() for v in vs)
        else:
            iterators = {s: iter(vs) for s, vs in groups.items()}
            entries = ((s, next(iterators[s])) for s in order)
        keyed: dict[Any, tuple[_Shape, tuple[Any, ...]]] = {}
        loose = []
        for entry in entries:
            key_of = entry[0].key_of
            key = None if key_of is None else key_of(entry[1])
            if key is None or None in key:
                loose.append(entry)
                continue
            if uuid_key is not None:
                key = tuple(_as_uuid(v) if u else v for v, u in zip(key, uuid_key))
            try:
                if keep_last or key not in keyed:
                    keyed[key] = entry
            except TypeError:  # an unhashable key (a list, a dict): the column check refuses it
                loose.append(entry)
        try:
            ordered = [keyed[k] for k in sorted(keyed)]
        except TypeError:  # keys of mixed types: keep the input order
            ordered = list(keyed.values())
        distinct: dict[_Shape, list[tuple[Any, ...]]] = {}
        for shape, values in itertools.chain(ordered, loose):
            distinct.setdefault(shape, []).append(values)
        return distinct

    # -- writing ---------------------------------------------------------------

    def insert(
        self,
        connection: sa.Connection,
        rows: Iterable[Any],
        mode: str,
        normalize: Callable[[Any], dict[str, Any]] = dict,
        conflict_on: tuple[str, ...] | None = None,
        own_transaction: bool = False,
    ) -> int:
        """Insert ``rows`` (dicts of field -> value; anything else goes through
        ``normalize`` first) with ``on_conflict`` ``mode``; return the rows written.

        In a transaction of its own (``own_transaction``: none of the caller's, which a
        stream aborted by a refused value would leave unusable), a list may go to the
        dialect's stream (``ops.stream_insert``).

        ``"ignore"`` keeps the first of rows sharing a conflict key and counts only
        the rows inserted; ``"update"`` keeps the last and counts every row written.
        ``conflict_on`` is the unique key deciding "already exists" (checked by the
        caller); ``None``: resolved from the fields the first batch's rows give.
        """
        what = "bulk_insert"
        iterator = iter(rows)
        whole = isinstance(rows, (list, tuple))
        written = 0
        target = () if mode == "error" else conflict_on
        start = 0  # the index of the batch's first row in the input
        pending: tuple[Any, Any, int] | None = None  # a batch a stream read but left to this loop
        while True:
            # From a list no code of the caller's runs while a batch is read: the collector is
            # paused from its reading to its sending, and the batch's containers are freed
            # before it counts again (a collection at the end of each batch would walk them all).
            with _gc_paused() if whole else contextlib.nullcontext():
                if pending is not None:
                    (read, order, first), pending = pending, None
                else:
                    read, order = self._read(iterator, mode, target or (), normalize, what, whole)
                    if not read:
                        return written
                    first, start = start, start + sum(map(len, read.values()))
                if target is None:
                    target = resolve_conflict_on(
                        self.unique_keys, (s.keys for s in read), self.checker.model_name, mode
                    )
                    same = {s: self._canonical_shape(s.keys, mode, target) for s in read}
                    read = {same[s]: values for s, values in read.items()}
                    order = None if order is None else [same[s] for s in order]
                checked = self._check(read, order, first, mode, what)
                read = order = None
                streamable = whole and own_transaction and mode == "error" and len(checked) == 1
                if streamable and checked[0][0].native and checked[0][0].fast:
                    # The later batches of a list as the dialect's stream asks for them (one COPY
                    # on asyncpg: the next batch checked while the server takes the last one).
                    stream = _Stream(self, iterator, normalize, what, checked[0], start)
                    streamed = self.ops.stream_insert(connection, checked[0][0], stream)
                    if streamed is not None:
                        written += streamed
                        if stream.back is not None:
                            written += self._write(connection, *stream.back)
                        pending, start, stream, checked = stream.left, stream.start, None, None
                        continue
                for shape, columns, n in checked:
                    written += self._write(connection, shape, columns, n)
                checked = None

    def _check(
        self,
        read: dict[_Shape, list[tuple[Any, ...]]],
        order: list[_Shape] | None,
        first: int,
        mode: str,
        what: str,
    ) -> list[tuple[_Shape, list[Sequence[Any]], int]]:
        """One batch (``first``: the index of its first row in the input) as checked columns per
        shape: ``(shape, columns, rows)``. Every group of the batch is checked before any of it
        is sent."""
        # (After the conflict key: a call that names no key is refused as such first.)
        lacking = [(_input_index(read, order, s, v[0]), s) for s, v in read.items() if s.missing is not None]
        if lacking:
            index, shape = min(lacking, key=itemgetter(0))
            problem = f"missing required field {shape.missing!r} for {self.checker.model_name}"
            raise ValidationError.of_row(first + index, problem, what)
        with _gc_paused():
            groups = self._distinct(read, order, keep_last=mode == "update") if mode != "error" else read
            checked = []
            for shape, values in groups.items():
                columns = list(zip(*values)) if shape.keys else []
                try:
                    columns = [
                        self.checker.column(k, c, what, i in shape.not_null)
                        for i, (k, c) in enumerate(zip(shape.keys, columns))
                    ]
                except NullInColumn as null:
                    column = columns[shape.keys.index(null.key)]
                    row = first + _input_index(read, order, shape, values[column.index(None)])
                    raise ValidationError.of_row(row, self.checker.null_problem(null.key), what) from None
                except ValidationError as refused:
                    # A column refused as a whole: the error names the first row refusing.
                    found = self.checker.first_refused(shape.keys, columns, what)
                    if found is None:
                        raise
                    index, problem = found
                    row = first + _input_index(read, order, shape, values[index])
                    raise ValidationError.of_row(row, problem, what) from refused.__cause__
                checked.append((shape, columns, len(values)))
        return checked

    def _write(self, connection: sa.Connection, shape: _Shape, columns: list[Sequence[Any]], n: int) -> int:
        if not shape.native:
            return self._write_by_lookup(connection, shape, columns, n)
        if shape.fast and shape.keys:
            done = self.ops.fast_insert(connection, shape, shape.complete(columns, n), n)
            if done is not None:
                return done
        return _sqlalchemy_insert(connection, shape, shape.params(columns) if shape.keys else [{}] * n)

    def _write_by_lookup(self, connection: sa.Connection, shape: _Shape, columns: list[Sequence[Any]], n: int) -> int:
        """Read which conflict keys exist, insert the other rows by the fastest plain
        INSERT (which fails on any unique key) and, for ``"update"``, update these
        rows by their conflict key. For engines whose upsert statements would fire
        on another unique key than the conflict key (MySQL), or that have none."""
        rows = list(zip(*columns))
        existing = _existing_keys(connection, shape, rows)
        key_of = shape.key_of
        if existing and key_of is not None:
            old = [r for r in rows if key_of(r) in existing]
            rows = [r for r in rows if key_of(r) not in existing]
        else:
            old = []
        if rows:
            plain = self._canonical_shape(shape.keys, "error", ())
            self._write(connection, plain, [list(c) for c in zip(*rows)] if shape.keys else [], len(rows))
        if shape.mode == "ignore":
            return len(rows)
        by_key = {c.key: c for c in shape.columns}
        target = shape.target_columns
        names = [c.key for c in shape.columns]
        changed = [k for k in names if k not in target and k not in shape.pk]
        if old and changed:
            plans = []
            for values in old:
                row = dict(zip(names, values))
                plans.append(({k: row[k] for k in target}, {k: row[k] for k in changed}))
            update_rows(connection, self.table, by_key, plans, self.features)
        return n


class _Stream:
    """A list's batches of one shape, from a first one checked already, the others read and
    checked as a dialect's stream (``ops.stream_insert``) asks for them: ``(all columns,
    rows)`` each.

    It stops at a batch of other shapes (``left``: read, order, first row, for the caller's
    loop); a batch the stream cannot send is handed back (``give_back``) for the caller to
    send the usual way. A batch's refused value raises from here, inside the stream, which
    then sends nothing more.
    """

    def __init__(
        self,
        writer: RowWriter,
        rows: Iterator[Any],
        normalize: Callable[[Any], dict[str, Any]],
        what: str,
        checked: tuple[_Shape, list[Sequence[Any]], int],
        start: int,
    ) -> None:
        self.writer, self.rows, self.normalize, self.what = writer, rows, normalize, what
        self.shape = checked[0]
        self.start = start  # the index of the next batch's first row in the input
        self.left: tuple[Any, Any, int] | None = None
        self.back: tuple[_Shape, list[Sequence[Any]], int] | None = None
        self._next: tuple[_Shape, list[Sequence[Any]], int] | None = checked
        self._last: tuple[_Shape, list[Sequence[Any]], int] | None = None

    def __iter__(self) -> _Stream:
        return self

    def __next__(self) -> tuple[list[Sequence[Any]], int]:
        batch, self._next = self._next, None
        if batch is None:
            if self.left is not None or self.back is not None:
                raise StopIteration
            read, order = self.writer._read(self.rows, "error", (), self.normalize, self.what, True)
            if not read:
                raise StopIteration
            first, self.start = self.start, self.start + sum(map(len, read.values()))
            if list(read) != [self.shape]:
                self.left = (read, order, first)
                raise StopIteration
            [batch] = self.writer._check(read, order, first, "error", self.what)
        self._last = batch
        shape, columns, n = batch
        return shape.complete(columns, n), n

    def give_back(self) -> None:
        """The batch last given is not sent by the stream: the caller sends it."""
        self.back, self._last = self._last, None


def _existing_keys(connection: sa.Connection, shape: _Shape, rows: list[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
    """The conflict keys among ``rows`` that are stored (one SELECT per chunk of keys)."""
    if shape.key_of is None:
        return set()
    keys = [k for k in map(shape.key_of, rows) if None not in k]
    columns = [shape.writer.table.c[k] for k in shape.target_columns]
    found: set[tuple[Any, ...]] = set()
    for chunk in batched(keys, UPDATE_BATCH):
        if len(columns) == 1:
            match = columns[0].in_([k[0] for k in chunk])
        else:
            match = sa.or_(*(sa.and_(*(c == v for c, v in zip(columns, k))) for k in chunk))
        found.update(tuple(row) for row in connection.execute(sa.select(*columns).where(match)))
    return found


def _distinct_one_shape(
    shape: _Shape, values: list[tuple[Any, ...]], keep_last: bool
) -> dict[_Shape, list[tuple[Any, ...]]] | None:
    """:meth:`RowWriter._distinct` for one field set and a one-column key, in C loops;
    ``None`` when it does not apply (no key given, a NULL key, keys that do not sort)."""
    if shape.key_of is None or len(shape.target) != 1:
        return None
    index = shape.keys.index(shape.target[0])
    keys = [v[index] for v in values]
    if None in keys:
        return None
    try:
        # dict() keeps the last value given for a key: build it backwards for "first wins".
        keyed = dict(zip(keys, values)) if keep_last else dict(zip(reversed(keys), reversed(values)))
        return {shape: [keyed[k] for k in sorted(keyed)]}
    except TypeError:  # keys that do not hash or sort
        return None


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch is turned into columns and sent.

    That work allocates a few containers per row and frees them all at the
    end of the batch; the collector would otherwise run hundreds of times per
    100,000 rows, walking the caller's own live objects each time. The caller's
    row generator is never run inside (its garbage is collected as usual), and
    a collector disabled by the application stays disabled.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _input_index(
    read: dict[_Shape, list[tuple[Any, ...]]], order: list[_Shape] | None, shape: _Shape, values: tuple[Any, ...]
) -> int:
    """Where in its batch the row whose value tuple is ``values`` was read (for an error message)."""
    within = next(i for i, v in enumerate(read[shape]) if v is values)
    if order is None:  # one shape in the batch: its rows in input order
        return within
    return [i for i, s in enumerate(order) if s is shape][within]


def _no_values(row: Any) -> tuple[Any, ...]:
    raise KeyError("no shape yet")


def _as_uuid(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            return value
    return value


def _getter(indexes: Sequence[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """``itemgetter`` that always returns a tuple."""
    if len(indexes) == 1:
        index = indexes[0]
        return lambda values: (values[index],)
    return itemgetter(*indexes)


def _empty(row: Any) -> tuple[Any, ...]:
    return ()


# -- the paths ---------------------------------------------------------------------


def _sqlalchemy_insert(connection: sa.Connection, shape: _Shape, rows: list[dict[str, Any]]) -> int:
    """SQLAlchemy's executemany: the portable path, and the fallback of every fast one."""
    if shape.mode == "error":
        connection.execute(shape.writer.ops.insert(shape.table), rows)
        return len(rows)
    # (A shape without a native statement never gets here: RowWriter._write_by_lookup.)
    return shape.writer.ops.upsert_rows(connection, shape, rows)


# -- bulk_update ---------------------------------------------------------------------


def update_rows(
    connection: sa.Connection,
    table: sa.Table,
    columns: Mapping[str, sa.Column],
    plans: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]],
    features: SQLFeatures,
) -> int:
    """Apply ``(key, values)`` plans: one ``UPDATE ... SET c = CASE ...`` per batch of same-shaped plans.

    The statement for a batch shape (key fields, fields set, number of rows) is
    built once and cached: building a 500-branch ``CASE`` expression costs
    SQLAlchemy about 100 us a row, far more than the server's work. Each batch
    then only binds its values.
    """
    groups: dict[tuple[tuple[str, ...], frozenset], list[tuple[Mapping[str, Any], Mapping[str, Any]]]] = {}
    for key, values in plans:
        if values:
            groups.setdefault((tuple(key), frozenset(values)), []).append((key, values))
    cache = _UPDATE_STATEMENTS.setdefault(table, {})
    changed = 0
    for (keys, fields), items in groups.items():
        ordered = sorted(fields)
        for chunk in batched(items, UPDATE_BATCH):
            shape = (keys, tuple(ordered), len(chunk), features.typed_case_values)
            stmt = cache.get(shape)
            if stmt is None:
                if len(cache) >= _UPDATE_CACHE_SIZE:
                    cache.clear()
                stmt = cache[shape] = _update_statement(table, columns, keys, ordered, len(chunk), features)
            params = {}
            for i, (key, values) in enumerate(chunk):
                for j, k in enumerate(keys):
                    params[f"k{i}_{j}"] = key[k]
                for j, field in enumerate(ordered):
                    params[f"v{i}_{j}"] = values[field]
            changed += connection.execute(stmt, params).rowcount
    return changed


# table -> {(key fields, fields set, rows, typed) -> UPDATE statement}; tables are weakly held.
_UPDATE_STATEMENTS: weakref.WeakKeyDictionary[sa.Table, dict[tuple[Any, ...], Any]] = weakref.WeakKeyDictionary()
_UPDATE_CACHE_SIZE = 64


def _update_statement(
    table: sa.Table,
    columns: Mapping[str, sa.Column],
    keys: Sequence[str],
    fields: Sequence[str],
    rows: int,
    features: SQLFeatures,
) -> Any:
    """``UPDATE table SET f = CASE WHEN <key i> THEN :v<i>_<f> ... ELSE f END WHERE <any key>`` for ``rows`` rows."""
    key_columns = [columns[k] for k in keys]
    binds = [[sa.bindparam(f"k{i}_{j}", type_=c.type) for j, c in enumerate(key_columns)] for i in range(rows)]
    conditions = [sa.and_(*(c == b for c, b in zip(key_columns, row))) for row in binds]
    assignments = {}
    for j, field in enumerate(fields):
        column = columns[field]
        whens = [
            (cond, _typed(sa.bindparam(f"v{i}_{j}", type_=column.type), column, features))
            for i, cond in enumerate(conditions)
        ]
        assignments[column] = sa.case(*whens, else_=column)
    where = key_columns[0].in_([row[0] for row in binds]) if len(key_columns) == 1 else sa.or_(*conditions)
    return sa.update(table).where(where).values(assignments)


def _typed(param: Any, column: sa.Column, features: SQLFeatures) -> Any:
    return sa.cast(param, column.type) if features.typed_case_values else param
