"""The interface every plugin implements: :class:`DatabaseConnection` and :class:`BaseQuery`.

:class:`BaseQuery` holds the logic that does not depend on the engine --
argument checking, filter and order parsing, pagination and keyset cursors --
and asks the plugin for a few primitives (``_compile``, ``_fetch``, ``_count``,
``_stream`` ...). The seed's creator pattern is kept for existing users::

    db = new_DBConnection(SQLDatabaseCreator)
    db.connect(config)
"""

from __future__ import annotations

import abc
import contextlib
import itertools
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from ..config import resolve_section
from ..errors import FilterError, ValidationError
from ..filters import And, Compare, Node, Schema, after_condition, parse_filter, parse_order
from ..pagination import Cursor, Pagination, decode_cursor, encode_cursor, order_fingerprint
from ..values import INT64_MAX, INT64_MIN
from .base.features import BaseFeatures

__all__ = [
    "DatabaseConnection",
    "BaseQuery",
    "Pagination",
    "DatabaseCreator",
    "new_DBConnection",
    "ON_CONFLICT_MODES",
    "check_on_conflict",
    "check_conflict_on",
    "resolve_conflict_on",
    "check_rows",
    "check_bulk_update",
    "document_problem",
    "MAX_NESTING",
    "batched",
    "equalities",
    "describe",
]

M = TypeVar("M")
W = TypeVar("W")

ON_CONFLICT_MODES = ("error", "ignore", "update")
DEFAULT_BATCH_SIZE = 1000
#: Levels of nested dicts and lists a stored value may have (MongoDB's own document limit).
MAX_NESTING = 100


def check_on_conflict(on_conflict: str) -> str:
    if on_conflict not in ON_CONFLICT_MODES:
        raise ValueError(f"on_conflict: expected one of {', '.join(map(repr, ON_CONFLICT_MODES))}, got {on_conflict!r}")
    return on_conflict


def _show_key(fields: Sequence[str]) -> str:
    return fields[0] if len(fields) == 1 else "(" + ", ".join(fields) + ")"


def _key_list(unique_keys: Sequence[Sequence[str]]) -> str:
    return ", ".join(_show_key(k) for k in unique_keys) or "none"


def check_conflict_on(
    conflict_on: Any, unique_keys: Sequence[Sequence[str]], model: str, what: str = "bulk_insert"
) -> tuple[str, ...] | None:
    """``conflict_on`` (a field name or a list of them) as the unique key it names, or ``None``.

    ``unique_keys`` are the model's unique keys as field names, the primary key
    first. A ``conflict_on`` that names no unique key exactly is refused: the
    engines can only tell "already exists" by a unique index.
    """
    if conflict_on is None:
        return None
    fields = (conflict_on,) if isinstance(conflict_on, str) else conflict_on
    if (
        not isinstance(fields, (list, tuple))
        or not fields
        or not all(isinstance(f, str) for f in fields)
        or len(set(fields)) != len(fields)
    ):
        raise ValidationError(
            f"{what}: conflict_on must be a field name or a list of distinct field names, got {conflict_on!r}"
        )
    for key in unique_keys:
        if set(key) == set(fields):
            return tuple(key)
    raise ValidationError(
        f"{what}: conflict_on={_show_key(list(fields))} is not a unique key of {model} "
        f"(its unique keys: {_key_list(unique_keys)})"
    )


def resolve_conflict_on(
    unique_keys: Sequence[Sequence[str]], carried: Iterable[Iterable[str]], model: str, mode: str
) -> tuple[str, ...]:
    """The unique key deciding "already exists" when ``conflict_on`` is not given.

    ``carried`` are the field sets the rows give. The primary key (first of
    ``unique_keys``) when every row gives it; else the one other unique key every
    row gives; else the primary key when some rows give it (the others are new
    rows). No such key, or several: :class:`~db_plugins.ValidationError` naming
    the candidates, before anything is written.
    """
    sets = {frozenset(c) for c in carried}
    pk, others = tuple(unique_keys[0]), [tuple(k) for k in unique_keys[1:]]
    if all(set(pk) <= c for c in sets):
        return pk
    every = [k for k in others if all(set(k) <= c for c in sets)]
    if len(every) == 1:
        return every[0]
    what = f"bulk_insert(on_conflict={mode!r})"
    if every:
        raise ValidationError(
            f"{what}: the rows of {model} give several unique keys ({_key_list(every)}): "
            "choose the one that decides which rows exist with conflict_on="
        )
    if any(set(pk) <= c for c in sets):
        return pk
    raise ValidationError(
        f"{what}: the rows of {model} do not all give one of its unique keys ({_key_list(unique_keys)}), "
        "so nothing decides which rows exist: give one in every row, or name it with conflict_on="
    )


def check_bulk_update(instances: Any, attrs_list: Any) -> None:
    """Refuse ``bulk_update`` arguments that are not two sequences of the same length."""
    for name, value in (("instances", instances), ("attrs_list", attrs_list)):
        if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
            raise ValidationError(f"bulk_update: {name} must be a list, got {type(value).__name__}")
    if len(instances) != len(attrs_list):
        raise ValueError(f"bulk_update: {len(instances)} instances but {len(attrs_list)} attribute dicts")


def check_rows(rows: Any, model: str, what: str = "bulk_insert") -> None:
    """Refuse, before anything is written, an argument that cannot be a collection of rows."""
    # A single dict (or Mongo instance, which is one) would otherwise be read as its keys.
    if isinstance(rows, (Mapping, str, bytes)) or not isinstance(rows, Iterable):
        raise ValidationError(
            f"{what}: expected an iterable of rows (dicts or {model} instances), got {type(rows).__name__}"
        )


def document_problem(
    value: Any, *, bson: bool = False, finite: bool = False, max_nesting: int = MAX_NESTING
) -> str | None:
    """Why the JSON-like ``value`` (dicts, lists, scalars) cannot be stored as literal data, or ``None``.

    Every engine: nesting deeper than ``max_nesting`` (encoders recurse and
    overflow the stack; servers have limits of their own). ``bson``: keys must
    be strings without a leading ``$``, a ``.`` or a NUL (servers read those as
    operators and paths, or cannot encode them), and integers fit in 64 bits.
    ``finite``: no NaN or infinity. Walked with a stack, never recursion, so a
    hostile depth cannot crash the walk.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Iterable[Any] = item.values()
            if bson:
                for key in item:
                    if not isinstance(key, str):
                        return f"a key of a nested document is not a string ({type(key).__name__})"
                    if key.startswith("$") or "." in key or "\x00" in key:
                        return f"the nested key {key[:40]!r} starts with '$' or holds a '.' or a NUL"
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            if bson and type(item) is int and not INT64_MIN <= item <= INT64_MAX:
                return "an integer in it is outside the 64-bit range"
            if finite and isinstance(item, float) and item - item != 0:  # nan or +-inf
                return f"it holds {item!r}, which cannot be stored here"
            continue
        if depth >= max_nesting:
            return f"it is nested deeper than {max_nesting} levels"
        stack.extend((child, depth + 1) for child in children)
    return None


def batched(iterable: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Lists of at most ``size`` items, read lazily from ``iterable``."""
    iterator = iter(iterable)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def equalities(node: Node) -> dict[str, Any]:
    """Field values a filter pins down by plain equality (what ``get_or_create`` stores)."""
    if isinstance(node, Compare):
        return {node.field: node.value} if node.op == "eq" else {}
    out: dict[str, Any] = {}
    if isinstance(node, And):
        for child in node.clauses:
            out.update(equalities(child))
    return out


def describe(values: Mapping[str, Any]) -> str:
    """``k=v, ...`` for error messages."""
    return ", ".join(f"{k}={v!r}" for k, v in values.items())


def _positive_int(name: str, value: Any, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
    # Engines take LIMIT/OFFSET as 64-bit integers; a larger one fails in the driver.
    if value > INT64_MAX:
        raise ValueError(f"{name}: expected an integer below 2**63, got {value!r}")
    return value


class DatabaseConnection(abc.ABC):
    """A connection to one database through one plugin.

    ``connect(config)`` accepts a ``DB_CONFIG`` section, a URL, or a validated
    :class:`~db_plugins.config.SectionConfig`. Use it as a context manager to
    close it on exit.
    """

    plugin_name: ClassVar[str] = ""
    #: The engine's capability flags (a plugin's ``features`` object).
    features: BaseFeatures

    def __init__(self, config: Any = None, **options: Any) -> None:
        self.config: Any = None
        if config is not None:
            self.connect(config, **options)

    def connect(self, config: Any, **options: Any) -> DatabaseConnection:
        """Open the connection described by ``config``; returns ``self``."""
        self.config = resolve_section(config, self.plugin_name)
        self._queries: dict[Any, BaseQuery] = {}
        self._pins = self._new_local()
        self._open(self.config, **options)
        return self

    def _new_local(self) -> Any:
        # Per-caller state (the transaction stack, db.primary() pins): per thread here,
        # per task on the asyncio API's connections, whose tasks share the loop's thread.
        return threading.local()

    @abc.abstractmethod
    def _open(self, config: Any, **options: Any) -> None:
        """Set up the driver objects for a validated configuration."""

    @abc.abstractmethod
    def create_db(self) -> None:
        """Create the tables (collections) and indexes of the configured models."""

    @abc.abstractmethod
    def drop_db(self) -> None:
        """Drop the tables (collections) of the configured models."""

    def query(self, model: Any) -> BaseQuery:
        """The query interface for ``model``: one per model, kept while the connection is."""
        query = self._queries.get(model)
        if query is None:
            query = self._queries[model] = self._new_query(model)
        return query

    @abc.abstractmethod
    def _new_query(self, model: Any) -> BaseQuery:
        """A new query interface for ``model``; refuses what is not a model of this plugin."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection pool; the object may be connected again."""

    @abc.abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        """A block whose writes commit together at exit and roll back on an exception."""

    def primary(self) -> contextlib.AbstractContextManager[None]:
        """Pin this thread's reads in the block to the primary: read-your-writes.

        Outside the block, reads outside a transaction may go to a replica
        (``REPLICAS`` on SQL; the client's ``readPreference`` on MongoDB), which
        can lag behind a write just made. Blocks nest; other threads are not affected.
        """
        return _Pinned(self._pins)

    @property
    def pinned(self) -> bool:
        """Whether this thread is inside :meth:`primary`."""
        return getattr(self._pins, "depth", 0) > 0

    @property
    def routes_reads(self) -> bool:
        """Whether a read may go elsewhere than the primary (so :meth:`primary` changes something)."""
        return True

    def replica_status(self) -> list[dict[str, Any]]:
        """The read replicas: ``name``, ``up``, ``standby`` and ``lag`` in seconds (``None`` where
        unknown), asked now. Empty without replicas (and on MongoDB, whose client tracks its
        replica set itself)."""
        return []

    def __enter__(self) -> DatabaseConnection:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.config.masked_url if self.config is not None else "not connected"
        return f"<{type(self).__name__} {where}>"


class BaseQuery(abc.ABC, Generic[M, W]):
    """The query interface of SPEC §3, shared by every engine.

    ``W`` is the plugin's native condition type (a SQLAlchemy clause, a Mongo
    filter document).
    """

    def __init__(
        self, connection: DatabaseConnection, model: type[M], schema: Schema, primary_key: tuple[str, ...]
    ) -> None:
        self.connection = connection
        self.model = model
        #: The model's filterable fields.
        self.schema = schema
        #: The fields that identify a row, in order.
        self.primary_key = primary_key

    @property
    def features(self) -> BaseFeatures:
        """The engine's capability flags (the connection's)."""
        return self.connection.features

    # -- what a plugin provides -------------------------------------------------

    @abc.abstractmethod
    def _compile(self, node: Node) -> W:
        """Compile a filter tree to a native condition."""

    @abc.abstractmethod
    def _fetch(
        self,
        where: W,
        order: Sequence[tuple[str, bool]],
        limit: int | None,
        offset: int = 0,
        fields: tuple[str, ...] | None = None,
    ) -> list[M]:
        """Rows matching ``where`` in ``order`` (holding only ``fields`` when given)."""

    @abc.abstractmethod
    def _count(self, where: W, limit: int | None = None) -> int:
        """How many rows match, counting at most ``limit``."""

    @abc.abstractmethod
    def _stream(
        self, where: W, order: Sequence[tuple[str, bool]], batch_size: int, fields: tuple[str, ...] | None = None
    ) -> Iterator[M]:
        """Every matching row, read from a server-side cursor ``batch_size`` at a time."""

    @abc.abstractmethod
    def _delete(self, where: W) -> int: ...

    @abc.abstractmethod
    def _update_many(self, where: W, attrs: Mapping[str, Any]) -> int: ...

    @abc.abstractmethod
    def _value(self, instance: M, field: str) -> Any:
        """The value of ``field`` on ``instance``."""

    @abc.abstractmethod
    def insert(self, obj: M | Mapping[str, Any]) -> M:
        """Store one row (a dict or a model instance); return it with generated keys filled in."""

    @abc.abstractmethod
    def bulk_insert(
        self,
        rows: Iterable[M | Mapping[str, Any]],
        on_conflict: str = "error",
        conflict_on: str | Sequence[str] | None = None,
    ) -> int:
        """Store many rows by the engine's fastest path; return how many were written.

        ``on_conflict``: ``"error"`` (a duplicate key raises
        :class:`~db_plugins.DuplicateKeyError`), ``"ignore"`` (rows whose key
        exists are skipped and not counted; of rows sharing a key in one call the
        first is kept) or ``"update"`` (upsert: the stored row takes the fields
        given; of rows sharing a key the last wins; every row written is counted).
        ``conflict_on`` names the unique key (a field or a list of fields) that
        decides "already exists"; by default the primary key when the rows give
        it, else the one unique key every row gives. A row colliding on another
        unique key raises :class:`~db_plugins.DuplicateKeyError`.
        """

    @abc.abstractmethod
    def update(self, instance: M, attrs: Mapping[str, Any]) -> M:
        """Set ``attrs`` on the stored row of ``instance`` and on ``instance``."""

    @abc.abstractmethod
    def bulk_update(self, instances: Sequence[M], attrs_list: Sequence[Mapping[str, Any]]) -> int:
        """Apply ``attrs_list[i]`` to ``instances[i]``, one round trip per batch."""

    def get_or_create(self, filter_by: Mapping[str, Any], **defaults: Any) -> tuple[M, bool]:
        """Return ``(row, False)`` if one matches ``filter_by``, else create it: ``(row, True)``.

        Its reads go to the primary: a replica may not hold the row yet.
        """
        if not self.connection.routes_reads:
            return self._get_or_create(filter_by, **defaults)
        with self.connection.primary():
            return self._get_or_create(filter_by, **defaults)

    @abc.abstractmethod
    def _get_or_create(self, filter_by: Mapping[str, Any], **defaults: Any) -> tuple[M, bool]: ...

    # -- shared logic -----------------------------------------------------------

    @property
    def model_name(self) -> str:
        return getattr(self.model, "__name__", str(self.model))

    def parse_filter(self, filter_by: Mapping[str, Any] | None) -> Node:
        """Check ``filter_by`` against the model; raise :class:`~db_plugins.FilterError`."""
        return parse_filter(filter_by, self.schema, self.model_name)

    def where(self, filter_by: Any) -> W:
        """The native condition for ``filter_by`` (plugins also accept native conditions)."""
        return self._compile(self.parse_filter(filter_by))

    def parse_order(self, order_by: Any) -> tuple[tuple[str, bool], ...]:
        """``order_by`` as ``((field, descending), ...)`` ending with the primary key."""
        return parse_order(order_by, self.schema, self.primary_key, self.model_name)

    def select(self, filter_by: Any = None, order_by: Any = None) -> Any:
        """The engine's own statement for ``filter_by`` and ``order_by``, to go beyond the
        portable calls (joins, aggregates, hints) without rewriting the filter.

        SQL: a SQLAlchemy ``Select`` of the model, filtered and ordered (run it with
        ``db.session.scalars(...)`` or extend it: ``.join(...)``, ``.with_only_columns(...)``).
        Mongo: a ``(filter, sort)`` pair of documents for pymongo
        (``db.database[collection].find(filter, sort=sort)``, or an aggregation's
        ``$match``/``$sort``). Values are those the portable calls would send: the same
        rows match.
        """
        return self._native(self.where(filter_by), self.parse_order(order_by))

    def _native(self, where: W, order: Sequence[tuple[str, bool]]) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no native statement")

    def parse_fields(self, fields: Any, order: Sequence[tuple[str, bool]]) -> tuple[str, ...] | None:
        """The fields a read with ``fields=[...]`` loads: those named, the key and the
        ordering's fields (which cursors are made of), in the model's order; ``None``: all."""
        if fields is None:
            return None
        if isinstance(fields, (str, bytes)) or not isinstance(fields, (list, tuple, set, frozenset)):
            raise FilterError(f"fields: expected a list of field names, got {type(fields).__name__}")
        if not fields:
            raise FilterError("fields: name at least one field (or leave fields out to load them all)")
        for name in fields:
            if not isinstance(name, str) or name not in self.schema:
                raise FilterError(f"fields: {name!r} is not a field of {self.model_name}")
        wanted = {*fields, *self.primary_key, *(field for field, _ in order)}
        loaded = tuple(name for name in self.schema if name in wanted)
        return None if len(loaded) == len(self.schema) else loaded

    def find_one(self, filter_by: Any = None, order_by: Any = None, fields: Any = None) -> M | None:
        """The first row matching ``filter_by`` in ``order_by`` (default: primary key order), or ``None``.

        ``fields=[...]`` loads only those fields and the key; reading another from the
        instance raises :class:`~db_plugins.FieldNotLoaded`.
        """
        order = self.parse_order(order_by)
        rows = self._fetch(self.where(filter_by), order, 1, fields=self.parse_fields(fields, order))
        return rows[0] if rows else None

    def find_all(
        self,
        filter_by: Any = None,
        order_by: Any = None,
        paginate: bool = True,
        fields: Any = None,
        **paginate_args: Any,
    ) -> Pagination[M] | Iterator[M]:
        """A :class:`Pagination`, or with ``paginate=False`` an iterator streaming every match.

        The iterator reads ``batch_size`` rows at a time (default 1000) from a
        server-side cursor, so memory stays flat however many rows match.
        """
        if paginate:
            return self.paginate(filter_by=filter_by, order_by=order_by, fields=fields, **paginate_args)
        return self._stream(*self.stream_args(filter_by, order_by, fields, **paginate_args))

    def stream_args(self, filter_by: Any, order_by: Any, fields: Any, **options: Any) -> tuple[Any, ...]:
        """``find_all(paginate=False)``'s arguments checked, as ``_stream`` takes them (nothing is read)."""
        batch_size = options.pop("batch_size", DEFAULT_BATCH_SIZE)
        if options:
            raise TypeError(f"find_all(paginate=False) got unexpected arguments: {', '.join(options)}")
        _positive_int("batch_size", batch_size)
        order = self.parse_order(order_by)
        return self.where(filter_by), order, batch_size, self.parse_fields(fields, order)

    def count(self, filter_by: Any = None, max_results: int | None = None) -> int:
        """How many rows match ``filter_by`` (at most ``max_results`` when given)."""
        return self._count(self.where(filter_by), _positive_int("max_results", max_results, allow_none=True))

    def check_exists(self, filter_by: Any = None) -> bool:
        """Whether at least one row matches ``filter_by``."""
        return self._count(self.where(filter_by), 1) > 0

    def delete(self, filter_by: Any = None, *, all: bool = False) -> int:  # noqa: A002
        """Delete the matching rows and return how many; an empty filter needs ``all=True``."""
        if not filter_by and not all:
            raise ValueError("delete: refusing an empty filter_by (pass all=True to delete every row)")
        return self._delete(self.where(filter_by or None))

    def update_many(self, filter_by: Any, attrs: Mapping[str, Any]) -> int:
        """Set ``attrs`` on every row matching ``filter_by``; return how many rows matched."""
        if not isinstance(attrs, Mapping) or not attrs:
            raise ValueError("update_many: attrs must be a non-empty dict of field values")
        return self._update_many(self.where(filter_by), attrs)

    def paginate(
        self,
        page: int = 1,
        per_page: int = 10,
        count: bool = True,
        max_results: int | None = None,
        filter_by: Any = None,
        order_by: Any = None,
        after: str | None = None,
        fields: Any = None,
    ) -> Pagination[M]:
        """One page of matching rows; see :class:`~db_plugins.pagination.Pagination`.

        Offset mode takes ``page``; keyset mode takes ``after`` (a
        ``next_cursor`` or ``prev_cursor`` of an earlier page of the same
        ordering) and costs the same at any depth. ``fields=[...]`` loads only
        those fields, the key and the ordering's fields.
        """
        _positive_int("page", page)
        _positive_int("per_page", per_page)
        _positive_int("max_results", max_results, allow_none=True)
        if page * per_page >= INT64_MAX:
            raise ValueError(f"page: page {page} of {per_page} rows starts beyond the offsets engines accept (2**63)")
        order = self.parse_order(order_by)
        loaded = self.parse_fields(fields, order)
        fingerprint = order_fingerprint(self.model_name, order)
        cursor = decode_cursor(fingerprint, after, len(order)) if after is not None else None
        base = self.where(filter_by)
        if cursor is None:
            rows = self._fetch(base, order, per_page + 1, (page - 1) * per_page, fields=loaded)
            more = len(rows) > per_page
            rows = rows[:per_page]
            has_next, has_prev = more, page > 1
        else:
            page = cursor.page
            walk = order if cursor.forward else tuple((f, not d) for f, d in order)
            try:
                boundary = self._compile(after_condition(walk, cursor.values))
            except ValueError:
                raise ValueError("invalid cursor: its values do not fit this model") from None
            rows = self._fetch(self._and(base, boundary), walk, per_page + 1, fields=loaded)
            more = len(rows) > per_page
            rows = rows[:per_page]
            if cursor.forward:
                has_next, has_prev = more, page > 1
            else:
                rows.reverse()
                has_next, has_prev = True, more
        total = None
        capped = False
        if count:
            total = self._count(base, max_results)
            capped = max_results is not None and total >= max_results
        next_cursor = prev_cursor = None
        if rows and has_next:
            next_cursor = encode_cursor(fingerprint, Cursor(self._sort_values(rows[-1], order), True, page + 1))
        if rows and has_prev:
            prev_cursor = encode_cursor(fingerprint, Cursor(self._sort_values(rows[0], order), False, page - 1))

        def fetch(page: int, cursor: str | None) -> Pagination[M]:
            return self.paginate(
                page=page if after is None else 1,
                per_page=per_page,
                count=count,
                max_results=max_results,
                filter_by=filter_by,
                order_by=order_by,
                after=cursor if after is not None else None,
                fields=fields,
            )

        return Pagination(
            rows,
            page,
            per_page,
            total,
            has_next=has_next,
            has_prev=has_prev,
            total_capped=capped,
            next_cursor=next_cursor,
            prev_cursor=prev_cursor,
            fetch=fetch,
        )

    def _stream_by_keyset(
        self, where: W, order: Sequence[tuple[str, bool]], batch_size: int, fields: tuple[str, ...] | None = None
    ) -> Iterator[M]:
        """Stream in keyset batches, each read on its own (for engines without usable cursors)."""
        condition = where
        while True:
            rows = self._fetch(condition, order, batch_size, fields=fields)
            yield from rows
            if len(rows) < batch_size:
                return
            condition = self._and(where, self._compile(after_condition(order, self._sort_values(rows[-1], order))))

    def _sort_values(self, instance: M, order: Sequence[tuple[str, bool]]) -> tuple[Any, ...]:
        return tuple(self._value(instance, f) for f, _ in order)

    @abc.abstractmethod
    def _and(self, left: W, right: W) -> W:
        """A native condition matching both ``left`` and ``right``."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.model_name}>"


class DatabaseCreator(abc.ABC):
    """The seed's factory: ``new_DBConnection(SQLDatabaseCreator)`` returns an unconnected connection."""

    @classmethod
    @abc.abstractmethod
    def create_database(cls) -> DatabaseConnection: ...


def new_DBConnection(creator: type[DatabaseCreator]) -> DatabaseConnection:  # noqa: N802 - the seed's name
    """Return a new, unconnected connection made by ``creator``; call ``connect(config)`` on it."""
    return creator.create_database()


class _Pinned:
    """The block of :meth:`DatabaseConnection.primary` (every ``get_or_create`` enters one: a class
    costs a fraction of a generator-based context manager)."""

    __slots__ = ("_pins",)

    def __init__(self, pins: Any) -> None:
        self._pins = pins

    def __enter__(self) -> None:
        pins = self._pins
        pins.depth = getattr(pins, "depth", 0) + 1

    def __exit__(self, *exc: object) -> None:
        self._pins.depth -= 1
