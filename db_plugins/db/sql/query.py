"""The query interface on SQL engines (``SQLConnection.query(Model)``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm.attributes import set_committed_value

from ...errors import DuplicateKeyError, FilterError, NotFoundError, ValidationError
from ...filters import FieldInfo, Node
from ...values import EXACT_DOUBLE_INT, INT64_MAX, INT64_MIN
from ..generic import (
    BaseQuery,
    check_bulk_update,
    check_conflict_on,
    check_on_conflict,
    check_rows,
    describe,
    equalities,
)
from . import bulk, checks, datetimes
from . import rows as sessionless
from .dialects.base import SQLOperations
from .execute import Read
from .filters import SQLCompiler, filtered

__all__ = ["SQLQuery", "field_kind"]

# Field kind -> {value type find_one may bind as it is -> the check that it may}.
_PLAIN: dict[str, dict[type, Any]] = {
    "int": {int: lambda v, features: INT64_MIN <= v <= INT64_MAX},
    "float": {
        float: lambda v, features: v - v == 0,  # finite: NaN and infinity take the checked path
        # An int a double equals: a larger one is made exact by the filter compiler.
        int: lambda v, features: -EXACT_DOUBLE_INT <= v <= EXACT_DOUBLE_INT,
    },
    # ASCII: no lone surrogate to refuse; a NUL only where the engine stores one.
    "str": {str: lambda v, features: v.isascii() and (features.nul_in_strings or "\x00" not in v)},
}


# The parameters of find_one's prepared statements, one per field of the filter.
_BIND_NAMES = tuple(f"p{i}" for i in range(64))


def field_kind(column: sa.Column) -> str:
    """The filter kind (a key of :data:`db_plugins.filters.KINDS`) of a column."""
    try:
        python_type = column.type.python_type
    except (NotImplementedError, AttributeError):
        return "any"
    import datetime as dt
    import decimal

    for cls, kind in (
        (bool, "bool"),
        (int, "int"),
        (float, "float"),
        (decimal.Decimal, "decimal"),
        (str, "str"),
        (dt.datetime, "datetime"),
        (dt.date, "date"),
        (dt.time, "time"),
        (bytes, "bytes"),
        (uuid.UUID, "uuid"),
    ):
        if issubclass(python_type, cls):
            return kind
    return "any"


class SQLQuery(BaseQuery[Any, Any]):
    """``db.query(Model)`` for a SQLAlchemy mapped class.

    ``filter_by`` takes the portable dict language or a SQLAlchemy clause;
    ``order_by`` takes field names, ``"-field"``, columns or ``column.desc()``.
    """

    def __init__(self, connection: Any, model: Any) -> None:
        try:
            mapper = sa.inspect(model)
        except sa.exc.NoInspectionAvailable:
            raise ValidationError(f"query: {model!r} is not a SQLAlchemy mapped class") from None
        if not isinstance(mapper, orm.Mapper):
            raise ValidationError(f"query: {model!r} is not a SQLAlchemy mapped class")
        self.mapper = mapper
        self.table: sa.Table = mapper.local_table  # type: ignore[assignment]
        self.columns: dict[str, sa.Column] = {}
        schema: dict[str, FieldInfo] = {}
        for prop in mapper.column_attrs:
            column = prop.columns[0]
            if not isinstance(column, sa.Column):
                continue  # column_property over an expression: readable, not filterable
            self.columns[prop.key] = column
            schema[prop.key] = FieldInfo(prop.key, field_kind(column), bool(column.nullable))
        super().__init__(
            connection, model, schema, tuple(mapper.get_property_by_column(c).key for c in mapper.primary_key)
        )
        self._by_column = {column: key for key, column in self.columns.items()}
        self.compiler = SQLCompiler(self.columns, schema, connection.ops)
        # Plain models are read without an ORM session outside transactions (see rows.py).
        self._loader = sessionless.InstanceLoader.for_mapper(mapper, self.table, self.columns)
        self.executor = connection.executor
        self._columns = None if self._loader is None else sa.select(*self._loader.columns)
        self._orders: dict[tuple[tuple[str, bool], ...], list[Any]] = {}  # ORDER BY clauses per ordering
        # Reads of every row (no filter) per (ordering, limit, offset, fields): a page needs no
        # new statement, and its cache key is kept on the statement.
        self._unfiltered: dict[tuple[Any, ...], Read] = {}
        self._projections: dict[tuple[str, ...], Any] = {}  # loaders per fields=[...]
        self._checker = checks.Checker(
            schema,
            self.model_name,
            nul_in_strings=connection.features.nul_in_strings,
            max_lengths={}
            if connection.features.string_lengths
            else {
                key: column.type.length
                for key, column in self.columns.items()
                if isinstance(column.type, sa.String) and column.type.length
            },
            documents=[key for key, column in self.columns.items() if isinstance(column.type, sa.JSON)],
            max_nesting=connection.features.max_nesting,
            refused_floats=connection.features.refused_floats,
            decimals={
                key: (column.type.precision, column.type.scale)
                for key, column in self.columns.items()
                if isinstance(column.type, sa.Numeric) and not isinstance(column.type, sa.Float)
            },
            decimal_digits=connection.features.decimal_digits,
            int_ranges={
                key: connection.ops.integer_range(self.columns[key].type)
                for key, info in schema.items()
                if info.kind == "int"
            },
            datetimes=self._datetime_rules(),
            **_null_rules(self.table, self.columns),
        )
        self._writer: bulk.RowWriter | None = None
        # find_one/get_or_create by plain equalities: one prepared statement per set of fields.
        self._plain_kinds = {key: _PLAIN.get(info.kind) for key, info in schema.items()}
        self._by_fields: dict[tuple[str, ...], Any] = {}
        self._creates: dict[tuple[frozenset[str], tuple[str, ...]], Any] = {}  # get_or_create's inserts
        self._unique_keys = self._find_unique_keys()
        # The same as field tuples in column order, the primary key first: what conflict_on names.
        order = list(self.columns)
        self._conflict_keys = [self.primary_key]
        for key in self._unique_keys[1:]:
            fields = tuple(sorted(key, key=order.index))
            if fields not in self._conflict_keys and key != frozenset(self.primary_key):
                self._conflict_keys.append(fields)

    @property
    def ops(self) -> SQLOperations:
        """The dialect's operations (the connection's): db_plugins.db.sql.dialects."""
        return self.connection.ops

    # -- schema -------------------------------------------------------------------

    def _datetime_rules(self) -> dict[str, Any]:
        """Each datetime field's rule on this engine (UTC, precision, aware reads: db_plugins.values)."""
        dialect = self.ops.dialect
        rules = {}
        for key, column in self.columns.items():
            rule = datetimes.datetime_rule(column.type, dialect) if self.schema[key].kind == "datetime" else None
            if rule is not None:
                rules[key] = rule
        return rules

    def _find_unique_keys(self) -> list[frozenset[str]]:
        """The field sets the table holds unique: its primary key, unique constraints and unique indexes."""
        groups = [list(self.table.primary_key.columns)]
        groups += [list(c.columns) for c in self.table.constraints if isinstance(c, sa.UniqueConstraint)]
        # A partial index (postgresql_where=, sqlite_where=) leaves the other rows free to repeat.
        groups += [list(index.expressions) for index in self.table.indexes if index.unique and not _partial(index)]
        keys = []
        for columns in groups:
            fields = [self._by_column.get(column) for column in columns]
            if fields and all(fields):
                keys.append(frozenset(fields))
        return keys

    def where(self, filter_by: Any) -> Any:
        if isinstance(filter_by, sa.sql.ClauseElement):
            return filter_by
        if (
            isinstance(filter_by, (list, tuple))
            and filter_by
            and all(isinstance(c, sa.sql.ClauseElement) for c in filter_by)
        ):
            return sa.and_(*filter_by)
        return super().where(filter_by)

    def parse_order(self, order_by: Any) -> tuple[tuple[str, bool], ...]:
        items = order_by if isinstance(order_by, (list, tuple)) else ([] if order_by is None else [order_by])
        return super().parse_order([self._order_item(item) for item in items])

    def _order_item(self, item: Any) -> Any:
        if isinstance(item, (str, tuple)):
            return item  # a name, or (name, descending): checked by parse_order
        if not isinstance(item, sa.sql.ClauseElement) and not hasattr(item, "__clause_element__"):
            raise FilterError(f"order_by: expected a field name or a column, got {type(item).__name__}")
        descending = False
        element = item
        if isinstance(element, sa.sql.elements.UnaryExpression):
            modifier = getattr(element.modifier, "__name__", "")
            if modifier not in ("desc_op", "asc_op"):
                raise FilterError(f"order_by: unsupported expression {item}")
            descending = modifier == "desc_op"
            element = element.element
        column = getattr(element, "property", None)
        if column is not None and hasattr(column, "columns"):
            element = column.columns[0]
        key = self._by_column.get(element)  # type: ignore[arg-type]
        if key is None:
            raise FilterError(f"order_by: {item} is not a column of {self.model_name}")
        return (key, descending)

    def _compile(self, node: Node) -> Any:
        return self.compiler.compile(node)

    def _and(self, left: Any, right: Any) -> Any:
        return sa.and_(left, right)

    def _value(self, instance: Any, field: str) -> Any:
        return getattr(instance, field)

    # -- reads ----------------------------------------------------------------------

    def _select(
        self,
        where: Any,
        order: Sequence[tuple[str, bool]],
        limit: int | None,
        offset: int = 0,
        fields: tuple[str, ...] | None = None,
    ) -> Any:
        """The ORM statement of a read: instances of the mapped class (``fields`` loaded only)."""
        stmt = sa.select(self.model)
        if fields is not None:
            stmt = stmt.options(orm.load_only(*(self.mapper.attrs[name].class_attribute for name in fields)))
        return self._shaped(stmt, where, order, limit, offset)

    def _shaped(self, stmt: Any, where: Any, order: Sequence[tuple[str, bool]], limit: int | None, offset: int) -> Any:
        key = tuple(order)
        clauses = self._orders.get(key)
        if clauses is None:
            clauses = self.compiler.order(order)
            if len(self._orders) < 64:
                self._orders[key] = clauses
        stmt = filtered(stmt, where).order_by(*clauses)
        if limit is not None:
            # Written into the SQL: a server that prepares statements (PostgreSQL on asyncpg)
            # plans one with a LIMIT parameter anew at every run, not knowing how few rows it
            # wants; page sizes are few, and so are the statements.
            stmt = stmt.limit(sa.literal_column(str(int(limit))))
        if offset:
            stmt = stmt.offset(offset)
        return stmt

    def _native(self, where: Any, order: Sequence[tuple[str, bool]]) -> Any:
        return self._select(where, order, None)

    def _read(
        self,
        where: Any,
        order: Sequence[tuple[str, bool]],
        limit: int | None,
        offset: int = 0,
        fields: tuple[str, ...] | None = None,
    ) -> Read:
        """A read compiled for the executor: the Core statement over the loader's columns
        (when instances can be built without the ORM) and the ORM one."""
        if isinstance(where, sa.sql.elements.True_):
            key = (tuple(order), limit, offset, fields)
            read = self._unfiltered.get(key)
            if read is None:
                if len(self._unfiltered) >= 64:  # offsets a caller may vary: bounded
                    self._unfiltered.clear()
                read = self._unfiltered[key] = self._new_read(where, order, limit, offset, fields)
            return read
        return self._new_read(where, order, limit, offset, fields)

    def _new_read(
        self,
        where: Any,
        order: Sequence[tuple[str, bool]],
        limit: int | None,
        offset: int,
        fields: tuple[str, ...] | None,
    ) -> Read:
        loader = self._loader if fields is None else self._projected(fields)
        core = None
        if loader is not None:
            columns = self._columns if fields is None else sa.select(*loader.columns)
            core = self._shaped(columns, where, order, limit, offset)
        return Read(core, lambda: self._select(where, order, limit, offset, fields), loader)

    def _projected(self, fields: tuple[str, ...]) -> sessionless.InstanceLoader | None:
        """The loader of instances holding ``fields`` only (the others raise FieldNotLoaded)."""
        if self._loader is None:
            return None
        loader = self._projections.get(fields)
        if loader is None:
            loader = sessionless.InstanceLoader(
                self.mapper, {name: self.columns[name] for name in fields}, unloaded=self.columns.keys() - set(fields)
            )
            if len(self._projections) < 64:
                self._projections[fields] = loader
        return loader

    def find_one(self, filter_by: Any = None, order_by: Any = None, fields: Any = None) -> Any:
        if order_by is None and fields is None:
            found = self._fetch_equal(filter_by)
            if found is not None:
                return found[0] if found else None
        return super().find_one(filter_by, order_by, fields)

    def _fetch_equal(self, filter_by: Any) -> list[Any] | None:
        """The first row (in key order) whose fields equal ``filter_by``'s values, or ``None``
        when the filter is not plain equalities a prepared statement can serve.

        The common lookup by key skips parsing, compiling and building a
        statement (most of ``find_one``'s own cost): values of the plain types
        below go as parameters to the statement compiled once for these fields.
        Anything else (operators, None, other types, strings beyond ASCII) takes
        the general path, which checks it and raises as documented.
        """
        if type(filter_by) is not dict or not filter_by or self._loader is None or self.connection.in_transaction:
            return None
        kinds = self._plain_kinds
        for key, value in filter_by.items():
            plain = kinds.get(key)
            check = None if plain is None else plain.get(type(value))
            if check is None or not check(value, self.features):
                return None
        fields = tuple(filter_by)
        compiled = self._by_fields.get(fields)
        if len(fields) > len(_BIND_NAMES):
            return None
        if compiled is None:
            where = sa.and_(
                *(
                    self.compiler.equals(
                        key, self.columns[key], sa.bindparam(_BIND_NAMES[i], type_=self.columns[key].type)
                    )
                    for i, key in enumerate(fields)
                )
            )
            read = self._read(where, self.parse_order(None), 1)
            compiled = self.executor.prepare(read.core)
            if compiled is None:
                return None
            if len(self._by_fields) < 256:  # field orders a caller may vary: bounded
                self._by_fields[fields] = compiled
        values = dict(compiled.defaults)
        values.update(zip(_BIND_NAMES, filter_by.values()))
        return self._loader.many(self.executor.run(compiled, values))

    def _fetch(
        self,
        where: Any,
        order: Sequence[tuple[str, bool]],
        limit: int | None,
        offset: int = 0,
        fields: tuple[str, ...] | None = None,
    ) -> list[Any]:
        return self.executor.fetch(self._read(where, order, limit, offset, fields))

    def _count(self, where: Any, limit: int | None = None) -> int:
        if limit is None:
            stmt = filtered(sa.select(sa.func.count()).select_from(self.table), where)
        else:
            inner = filtered(sa.select(sa.literal(1).label("one")).select_from(self.table), where).limit(limit)
            stmt = sa.select(sa.func.count()).select_from(inner.subquery())
        return int(self.executor.scalar(stmt))

    def _stream(
        self, where: Any, order: Sequence[tuple[str, bool]], batch_size: int, fields: tuple[str, ...] | None = None
    ) -> Iterator[Any]:
        if not self.features.stream_cursor:
            return self._stream_by_keyset(where, order, batch_size, fields)
        return self.executor.stream(self._read(where, order, None, 0, fields), batch_size)

    # -- writes -----------------------------------------------------------------------

    def _check_values(self, data: Mapping[str, Any], what: str) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise ValidationError(f"{what}: attrs must be a dict of field values, got {type(data).__name__}")
        return self._checker.row(data, what)

    def _row(self, obj: Any, what: str) -> dict[str, Any]:
        return self._checker.row(self._mapping(obj, what), what)

    def _bulk_row(self, obj: Any) -> dict[str, Any]:
        """A row of ``bulk_insert`` that is not a plain dict, as one."""
        return dict(self._mapping(obj, "bulk_insert"))

    def _mapping(self, obj: Any, what: str) -> Mapping[str, Any]:
        """``obj``'s field values, unchecked: a mapping as it is, an instance's loaded columns."""
        if isinstance(obj, Mapping):
            return obj
        if isinstance(obj, self.model):
            state = vars(obj)
            return {k: state[k] for k in self.columns if k in state}
        raise ValidationError(f"{what}: expected a {self.model_name} instance or a dict, got {type(obj).__name__}")

    def _key_of(self, instance: Any, what: str) -> dict[str, Any]:
        if not isinstance(instance, self.model):
            raise ValidationError(f"{what}: expected a {self.model_name} instance, got {type(instance).__name__}")
        key = {name: vars(instance).get(name) for name in self.primary_key}
        if any(v is None for v in key.values()):
            raise ValidationError(f"{what}: the {self.model_name} has no primary key value (was it stored?)")
        return key

    def _key_clause(self, key: Mapping[str, Any]) -> Any:
        return sa.and_(*(self.columns[name] == value for name, value in key.items()))

    def insert(self, obj: Any) -> Any:
        data = self._row(obj, "insert")
        self._checker.require(data, "insert")
        instance = obj
        if not isinstance(obj, self.model) or sa.inspect(obj).has_identity:
            # A dict, or an instance read earlier: insert a fresh row (which
            # raises DuplicateKeyError if that key is still stored).
            instance = self.model(**data)
        else:
            # The instance holds what is stored (a datetime in UTC, cut to the column's precision).
            state = vars(obj)
            for key, value in data.items():
                if state.get(key) is not value:
                    setattr(obj, key, value)

        def work(session: orm.Session) -> Any:
            session.add(instance)
            session.flush()
            return instance

        result = self.connection.run(work)
        if not self.connection.in_transaction:
            _detach(result)
        return result

    def bulk_insert(
        self, rows: Iterable[Any], on_conflict: str = "error", conflict_on: str | Sequence[str] | None = None
    ) -> int:
        """Store many rows in one transaction by the dialect's fastest path (see :mod:`.bulk`).

        ``"ignore"``/``"update"`` decide "already exists" by ``conflict_on`` (see
        :meth:`BaseQuery.bulk_insert <db_plugins.db.generic.BaseQuery.bulk_insert>`);
        a failure writes nothing.
        """
        check_on_conflict(on_conflict)
        target = check_conflict_on(conflict_on, self._conflict_keys, self.model_name)
        check_rows(rows, self.model_name)
        if self._writer is None:
            self._writer = bulk.RowWriter(
                self.table, self.columns, self._checker, self.ops, unique_keys=self._conflict_keys
            )
        writer = self._writer
        in_block = self.connection.in_transaction

        def work(session: orm.Session) -> int:
            return writer.insert(
                session.connection(), rows, on_conflict, self._bulk_row, target, own_transaction=not in_block
            )

        # A generator cannot be replayed, so only a sequence is retried after a deadlock.
        return self.connection.run(work, retry=isinstance(rows, Sequence))

    def update(self, instance: Any, attrs: Mapping[str, Any]) -> Any:
        key = self._key_of(instance, "update")
        values = self._check_values(attrs, "update")
        if not values:
            return instance
        stmt = (
            sa.update(self.table).where(self._key_clause(key)).values({self.columns[k]: v for k, v in values.items()})
        )
        if self.features.update_returning:
            stmt = stmt.returning(*(self.columns[k] for k in self.columns))

        def work(session: orm.Session) -> Any:
            result = session.connection().execute(stmt)
            if self.features.update_returning:
                row = result.first()
                # SQLite hands back 2.0 stored as 2; the caller's values win.
                return None if row is None else {**dict(zip(self.columns, row)), **values}
            return values if result.rowcount else None

        stored = self.connection.run(work)
        if stored is None:
            raise NotFoundError(f"update: no {self.model_name} with {describe(key)} (deleted?)")
        for name, value in stored.items():
            set_committed_value(instance, name, value)
        return instance

    def bulk_update(self, instances: Sequence[Any], attrs_list: Sequence[Mapping[str, Any]]) -> int:
        check_bulk_update(instances, attrs_list)
        plans = [
            (self._key_of(instance, "bulk_update"), self._check_values(attrs, "bulk_update"))
            for instance, attrs in zip(instances, attrs_list)
        ]

        def work(session: orm.Session) -> int:
            return bulk.update_rows(session.connection(), self.table, self.columns, plans, self.features)

        changed = self.connection.run(work)
        for instance, (_, values) in zip(instances, plans):
            for name, value in values.items():
                set_committed_value(instance, name, value)
        return changed

    def _delete(self, where: Any) -> int:
        stmt = filtered(sa.delete(self.table), where)
        return self.connection.run(lambda s: s.connection().execute(stmt).rowcount)

    def _update_many(self, where: Any, attrs: Mapping[str, Any]) -> int:
        values = self._check_values(attrs, "update_many")
        stmt = filtered(sa.update(self.table), where).values({self.columns[k]: v for k, v in values.items()})
        return self.connection.run(lambda s: s.connection().execute(stmt).rowcount)

    def _get_or_create(self, filter_by: Mapping[str, Any], **defaults: Any) -> tuple[Any, bool]:
        if not isinstance(filter_by, Mapping) or not filter_by:
            raise FilterError("get_or_create: filter_by must be a non-empty dict")
        checked = self._check_values(defaults, "get_or_create")  # a bad default: refused, even on a hit
        found = self._fetch_equal(filter_by)
        if found:
            return found[0], False
        if found is not None:  # a miss: the new row needs every required field
            self._checker.require({**filter_by, **checked}, "get_or_create")
        if found is not None and not self.connection.in_transaction and self._is_unique(filter_by):
            # The unique index arbitrates between concurrent creators: no lock needed.
            try:
                created = self._insert_unless_stored(filter_by, checked)
                if created is not None:
                    return created, True
                return self.insert({**filter_by, **checked}), True
            except DuplicateKeyError as exc:
                found = self._fetch_equal(filter_by)
                if found:
                    return found[0], False
                raise DuplicateKeyError(
                    f"get_or_create: {self.model_name} with {describe(filter_by)} conflicts with another row"
                ) from exc
        node = self.parse_filter(filter_by)
        where = self._compile(node)
        order = self.parse_order(None)
        if found is None:
            found = self._fetch(where, order, 1)
            if found:
                return found[0], False
        # A miss: the filter's values are stored too, checked as writes are (a filter may
        # compare a field with what it cannot hold), and the new row needs every required field.
        values = {**self._check_values(equalities(node), "get_or_create"), **checked}
        self._checker.require(values, "get_or_create")
        if self.connection.in_transaction:
            return self._create_in_transaction(where, order, values)
        lock_name = f"get_or_create:{self.table.name}:{sorted(map(repr, values.items()))}"
        connection = self.connection
        for _ in range(3):
            try:
                with connection.guard(), connection._write_engine.connect() as conn:
                    with self.ops.lock(conn, lock_name):
                        with orm.Session(bind=conn, expire_on_commit=False) as session:
                            existing = session.scalars(self._select(where, order, 1)).first()
                            if existing is not None:
                                session.commit()
                                return existing, False
                            instance = self.model(**values)
                            session.add(instance)
                            session.commit()
                            return instance, True
            except DuplicateKeyError:
                # Someone inserted the same key without going through get_or_create.
                found = self._fetch(where, order, 1)
                if found:
                    return found[0], False
        raise DuplicateKeyError(f"get_or_create: {self.model_name} with {describe(values)} conflicts with another row")

    def _insert_unless_stored(self, filter_by: Mapping[str, Any], checked: dict[str, Any]) -> Any:
        """A new instance of ``filter_by``'s values and the ``checked`` defaults, inserted in one
        statement that creates no row when one with the same key is stored
        (``ops.insert_unless_stored``: ``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING``, or
        a plain ``INSERT ... RETURNING``); ``None`` where the engine has no RETURNING or the
        statement needs SQLAlchemy's execution (see :meth:`_create_statement`).

        A key already stored raises :class:`DuplicateKeyError`, as a plain insert
        would; a conflict on another unique key raises it too, from the database.
        """
        features = self.features
        if not features.returning or not features.autocommit_pool or self._loader is None:
            return None
        row = self._checker.row({k: v for k, v in filter_by.items() if k not in checked}, "get_or_create")
        row.update(checked)
        fields = filter_by.keys()
        key = next(key for key in self._unique_keys if key <= fields)
        shape = (key, tuple(row))
        prepared = self._creates.get(shape, False)
        if prepared is False:
            prepared = self._create_statement(key, shape[1])
            if len(self._creates) < 256:  # field orders a caller may vary: bounded
                self._creates[shape] = prepared
        if prepared is None:
            return None
        compiled, fill = prepared
        params = dict(compiled.defaults)
        params.update(zip(_BIND_NAMES, row.values()))
        for name, default in fill:
            params[name] = default(1)[0]
        # One statement is atomic on its own: sent on the primary's autocommit pool, it is one
        # round trip, with no BEGIN before it nor COMMIT after.
        stored = self.executor.run(compiled, params, primary=True)
        if not stored:
            raise DuplicateKeyError(f"get_or_create: {self.model_name} with {describe(row)} is already stored")
        return self._loader(stored[0])

    def _create_statement(self, key: frozenset[str], fields: tuple[str, ...]) -> Any:
        """The insert of :meth:`_insert_unless_stored` for rows giving ``fields``, compiled once:
        ``(compiled, [(bind, default)])``, the values of the Python-side column defaults it sends
        being made per call as SQLAlchemy's execution makes them; ``None`` when it cannot run
        without SQLAlchemy's (a default taking the execution context, values rendered per call)."""
        if len(fields) > len(_BIND_NAMES):
            return None
        loader = self._loader
        assert loader is not None
        target = [self.columns[name].name for name in sorted(key)]
        stmt = (
            self.ops.insert_unless_stored(self.table, target)
            .values(
                {
                    self.columns[name]: sa.bindparam(_BIND_NAMES[i], type_=self.columns[name].type)
                    for i, name in enumerate(fields)
                }
            )
            .returning(*loader.columns)
        )
        compiled = self.executor.prepare(stmt)
        if compiled is None:
            return None
        fill = []
        for column in compiled.compiled.insert_prefetch:
            default = bulk.default_filler(column.default)
            if default is None or column.key in _BIND_NAMES:  # (a bind of that name is a given value's)
                return None
            fill.append((column.key, default))
        return compiled, fill

    def _is_unique(self, filter_by: Mapping[str, Any]) -> bool:
        """Whether at most one row can match ``filter_by``'s (non-null) equalities."""
        fields = filter_by.keys()
        return any(key <= fields for key in self._unique_keys)

    def _create_in_transaction(self, where: Any, order: Any, values: dict[str, Any]) -> tuple[Any, bool]:
        session = self.connection._stack[-1]
        with self.connection.guard():
            try:
                with session.begin_nested():
                    instance = self.model(**values)
                    session.add(instance)
                return instance, True
            except sa.exc.IntegrityError:
                found = session.scalars(self._select(where, order, 1)).first()
                if found is None:
                    raise
                return found, False


def _null_rules(table: sa.Table, columns: Mapping[str, sa.Column]) -> dict[str, list[str]]:
    """The ``required`` and ``not_null`` fields of :class:`~db_plugins.db.sql.checks.Checker`.

    A NOT NULL column the database fills itself (the autoincrement or identity
    key, a computed column) takes None as "generate it"; any other refuses
    None, and one with no default at all (Python-side or server-side) must be given.
    """
    generated = {table.autoincrement_column}
    not_null, required = [], []
    for key, column in columns.items():
        if column.nullable or column.table is not table:
            continue
        if column in generated or column.identity is not None or column.computed is not None:
            continue
        if column.primary_key and (column.default is not None or column.server_default is not None):
            continue  # a key from a sequence or a function: None asks for one, as in the ORM
        not_null.append(key)
        if column.default is None and column.server_default is None:
            required.append(key)
    return {"required": required, "not_null": not_null}


def _partial(index: sa.Index) -> bool:
    return any(key.endswith("_where") and value is not None for key, value in index.dialect_kwargs.items())


def _detach(instance: Any) -> None:
    session = orm.object_session(instance)
    if session is not None:
        session.expunge(instance)
