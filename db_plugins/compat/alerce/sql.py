"""ALeRCE db-plugins 4.x's SQL forms: a session-holding ``SQLConnection`` and ``SQLQuery``, a SQLAlchemy ``Query``.

Replaces the 4.x modules ``db_plugins.db.sql.connection``,
``db_plugins.db.sql.query`` and the ``Base`` of ``db_plugins.db.sql.models``::

    from db_plugins.compat.alerce.sql import SQLConnection, SQLQuery, Base

As in 4.x, ``db.query(Model)`` is a SQLAlchemy ``Query`` of the connection's
session (``.filter(...).all()`` works) that also has ``get_or_create``,
``find_one``, ``find_all``, ``paginate``, ``bulk_insert``..., reading and
writing through that session: instances stay attached to it, and ``update``
only sets attributes, for the caller's ``session.commit()``.

What differs from 4.x: a connection made from a configuration is a
:class:`db_plugins.db.sql.SQLConnection` underneath (engine options per
dialect, ``transaction()``, ``guard()``); the query methods raise db_plugins
errors with the driver's exception as ``__cause__``; ``bulk_insert`` skips
existing keys on every engine (4.x only ran on PostgreSQL); ``paginate``
returns a :class:`db_plugins.Pagination`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import create_engine, insert
from sqlalchemy.orm import DeclarativeBase, Query, Session, scoped_session, sessionmaker

from ...db.generic import DatabaseCreator
from ...db.sql import SQLConnection as _SQLConnection
from ...errors import ConfigError
from ...pagination import Pagination
from ._common import AlerceCompatWarning, NotConnectedError, deprecated

__all__ = [
    "SQLConnection",
    "SQLDatabaseCreator",
    "SQLQuery",
    "Base",
    "Pagination",
    "NotConnectedError",
    "AlerceCompatWarning",
    # Names 4.x's connection and query modules had, which code (and tests) import from them.
    "create_engine",
    "sessionmaker",
    "scoped_session",
    "insert",
]

#: Key of ``Session.info`` holding the db-plugins connection behind a session.
CONNECTION_INFO = "db_plugins.compat.alerce.connection"


class Base(DeclarativeBase):
    """4.x's declarative base (the ``Base`` of ``db_plugins.db.sql.models``), the default ``base`` of
    :meth:`SQLConnection.connect`.

    Its own, not ``db_plugins.db.sql.Base``: a scoped session sets ``Base.query``
    on it, which the modern API's base does not have.
    """


def _connection_of(session: Any) -> _SQLConnection | None:
    """The db-plugins connection that made ``session``, if one did."""
    info = session.info if isinstance(session, Session) else None
    connection = info.get(CONNECTION_INFO) if info is not None else None
    return connection if isinstance(connection, _SQLConnection) else None


def _filtered(query: Any, filter_by: Any) -> Any:
    """4.x's filter: a dict of attribute values (``filter_by``) or a SQLAlchemy clause."""
    if filter_by is None:
        return query
    if isinstance(filter_by, Mapping):
        return query.filter_by(**filter_by)
    return query.filter(filter_by)


class SQLQuery(Query):
    """A SQLAlchemy ``Query`` with 4.x's helper methods.

    It is the query class of the sessions a compat :class:`SQLConnection`
    makes (``db.query(Model)``, ``db.session.query(Model)``, ``Model.query``
    under a scoped session), and can be built by hand: ``SQLQuery(Model, session)``.
    """

    # -- helpers ------------------------------------------------------------------------

    def _entity(self) -> Any:
        descriptions = self.column_descriptions
        return descriptions[0]["entity"] if descriptions else None

    def _target(self, model: Any, filter_by: Any, what: str, form: str = "model, ...") -> tuple[Any, Any, Any]:
        """The model, query and filter a method works with: this query's entity, else 4.x's ``model``.

        A filter given first (the modern order, ``get_or_create({"oid": ...})``)
        is taken as the filter, not as a model.
        """
        if filter_by is None and model is not None and not isinstance(model, type):
            model, filter_by = None, model
        entity = self._entity()
        if entity is not None:
            return entity, self, filter_by
        if model is None:
            raise ValueError(f"{what}: this query has no model: use db.query(Model).{what}(...)")
        name = getattr(model, "__name__", "Model")
        deprecated(f"query().{what}({form})", f"db.query({name}).{what}(...)", stacklevel=4)
        return model, self.session.query(model), filter_by

    def _guard(self) -> contextlib.AbstractContextManager[Any]:
        connection = _connection_of(self.session)
        return connection.guard() if connection is not None else contextlib.nullcontext()

    # -- 4.x methods --------------------------------------------------------------------

    def check_exists(self, model: Any = None, filter_by: Any = None) -> bool:
        """Whether a row matches ``filter_by`` (a dict of attribute values or a SQLAlchemy clause)."""
        _, query, filter_by = self._target(model, filter_by, "check_exists")
        with self._guard():
            return bool(self.session.query(_filtered(query, filter_by).exists()).scalar())

    def get_or_create(self, model: Any = None, filter_by: Any = None, **kwargs: Any) -> tuple[Any, bool]:
        """``(row, False)`` for the first row matching ``filter_by``, else ``(new row, True)``, committed.

        The new row takes ``kwargs`` and the values of a dict ``filter_by``. A
        concurrent insert of the same key is read back instead.
        """
        model, query, filter_by = self._target(model, filter_by, "get_or_create")
        with self._guard():
            found = _filtered(query, filter_by).first()
            if found is not None:
                return found, False
            values = {**kwargs, **filter_by} if isinstance(filter_by, Mapping) else kwargs
            instance = model(**values)
            self.session.add(instance)
            try:
                self.session.commit()
            except sa.exc.IntegrityError:
                self.session.rollback()
                found = _filtered(self.session.query(model), filter_by).first()
                if found is None:
                    raise  # not a lost race: a constraint refused the row
                return found, False
            return instance, True

    def update(self, instance: Any, args: Mapping[str, Any]) -> Any:
        """Set ``args`` on ``instance`` (attached to the session; commit to write them, as in 4.x)."""
        for key, value in args.items():
            setattr(instance, key, value)
        return instance

    def bulk_insert(self, objects: Iterable[Mapping[str, Any]], model: Any = None) -> int | None:
        """Insert rows (dicts), skipping those whose primary key exists; returns how many were written.

        Through the connection's ``bulk_insert(on_conflict="ignore")`` (every
        engine); on a session not made by a db-plugins connection, one plain
        ``INSERT`` (an existing key then raises).
        """
        rows = list(objects or ())
        if not rows:
            return None
        model, _, _ = self._target(model, None, "bulk_insert", "rows, model")
        connection = _connection_of(self.session)
        if connection is None:
            self.session.execute(insert(model.__table__), rows)
            self.session.commit()
            return len(rows)
        key = [column.key for column in model.__table__.primary_key.columns]
        keyed = any(isinstance(row, Mapping) and all(k in row for k in key) for row in rows)
        # Rows without their key get a generated one: nothing can exist to skip.
        modern = _SQLConnection.query(connection, model)
        return modern.bulk_insert(rows, on_conflict="ignore" if keyed else "error")

    def paginate(
        self, page: int = 1, per_page: int = 10, count: bool = True, max_results: int | None = 50000
    ) -> Pagination[Any]:
        """One page of this query's rows; ``total`` counts at most ``max_results`` (``total_capped`` says so)."""
        page = max(page, 1)
        per_page = per_page if per_page > 0 else 10
        with self._guard():
            rows = list(self.limit(per_page + 1).offset((page - 1) * per_page).all())
            total = None
            if count:
                counted = self.order_by(None)
                total = (counted.limit(max_results) if max_results else counted).count()
        capped = bool(count and max_results and total >= max_results)

        def fetch(page: int, cursor: Any = None) -> Pagination[Any]:
            return self.paginate(page, per_page, count, max_results)

        return Pagination(
            rows[:per_page], page, per_page, total, has_next=len(rows) > per_page, total_capped=capped, fetch=fetch
        )

    def find_one(self, model: Any = None, filter_by: Any = None) -> Any:
        """The row matching ``filter_by``, or ``None`` (several matching rows are an error, as in 4.x)."""
        _, query, filter_by = self._target(model, filter_by, "find_one")
        with self._guard():
            return _filtered(query, filter_by).one_or_none()

    def find_all(self, model: Any = None, filter_by: Any = None, paginate: bool = True) -> Any:
        """The first page of rows matching ``filter_by`` (a :class:`~db_plugins.Pagination`), or with
        ``paginate=False`` a list of all of them."""
        _, query, filter_by = self._target(model, filter_by, "find_all")
        query = _filtered(query, filter_by)
        if paginate:
            return query.paginate()
        with self._guard():
            return query.all()

    def find(self, model: Any = None, filter_by: Any = None, paginate: bool = True) -> Any:
        """4.x's other name for :meth:`find_all`."""
        deprecated("SQLQuery.find()", "find_all()")
        return self.find_all(model, filter_by, paginate)


class SQLConnection(_SQLConnection):
    """4.x's ``SQLConnection``: not connected until :meth:`connect`, with ``Session``/``session``/``Base``.

    ``connect(config)`` opens a :class:`db_plugins.db.sql.SQLConnection`
    (so ``transaction()``, ``guard()``, ``features`` work) and makes a session
    whose query class is :class:`SQLQuery`. An ``engine=`` or ``Session=``
    handed to the constructor is used as it is (4.x's injection, for tests);
    with an engine, nothing of db-plugins' own engine set-up runs.
    """

    def __init__(
        self,
        config: Any = None,
        engine: Any = None,
        Base: Any = None,  # noqa: N803 - 4.x's names
        Session: Any = None,  # noqa: N803
        session: Any = None,
    ) -> None:
        super().__init__()
        if engine is not None or Session is not None:
            deprecated("SQLConnection(engine=..., Session=...)", "db_plugins.connect(config)")
        self._pending = config
        self.engine = engine
        self.Base = Base
        self.Session = Session
        self.session = session
        self.use_scoped = False

    def connect(  # type: ignore[override]
        self,
        config: Any = None,
        base: Any = None,
        session_options: dict[str, Any] | None = None,
        create_session: bool = True,
        use_scoped: bool = False,
        scope_func: Any = None,
    ) -> SQLConnection:
        """Connect (a ``DB_CONFIG`` section or URL, as everywhere) and, by default, open a session.

        ``session_options`` go to ``sessionmaker``; ``use_scoped`` makes the
        session a ``scoped_session`` and sets ``base.query`` (``Model.query``).
        """
        config = self._pending if config is None else config
        self.Base = base or self.Base or Base  # (4.x ignored a Base= given to the constructor)
        if self.engine is None:
            if config is None:
                raise ConfigError("SQLConnection.connect: no configuration (pass a DB_CONFIG section or a URL)")
            session = self.session
            super().connect(config, base=self.Base)
            self.session = session  # 4.x's session is the one create_session makes
        options = dict(session_options or {})
        options["query_cls"] = SQLQuery
        if getattr(self, "features", None) is not None:
            options["info"] = {**(options.get("info") or {}), CONNECTION_INFO: self}
        if self.Session is None:
            self.Session = sessionmaker(bind=self.engine, **options)
        if create_session:
            self.create_session(use_scoped, scope_func)
        return self

    def create_session(self, use_scoped: bool = False, scope_func: Any = None) -> None:
        """Open ``self.session``: a ``Session``, or with ``use_scoped`` a ``scoped_session`` and ``Base.query``."""
        if self.Session is None:
            raise NotConnectedError("SQLConnection.create_session: not connected (call connect(config) first)")
        if use_scoped:
            self.session = scoped_session(self.Session, scopefunc=scope_func)
            if self.Base is not None:
                self.Base.query = self.session.query_property(query_cls=SQLQuery)
        else:
            self.session = self.Session()
        self.use_scoped = use_scoped

    def end_session(self) -> None:
        """Close ``self.session`` (``remove()`` a scoped one) and forget it."""
        if self.session is not None:
            if self.use_scoped:
                self.session.remove()
            else:
                self.session.close()
        self.session = None

    def _guarded(self, what: str) -> contextlib.AbstractContextManager[Any]:
        if self.Base is None or self.engine is None:
            raise NotConnectedError(f"SQLConnection.{what}: not connected (call connect(config) first)")
        return self.guard() if getattr(self, "features", None) is not None else contextlib.nullcontext()

    def create_db(self) -> None:
        """Create the tables of ``Base`` (4.x: ``Base.metadata.create_all``)."""
        with self._guarded("create_db"):
            self.Base.metadata.create_all(bind=self.engine)

    def drop_db(self) -> None:
        """Drop the tables of ``Base``, closing ``session`` first.

        The session's open transaction would hold locks on the tables, and the
        ``DROP`` would wait for it forever (PostgreSQL, MariaDB).
        """
        guard = self._guarded("drop_db")
        if self.session is not None:
            self.session.close()
        with guard:
            self.Base.metadata.drop_all(bind=self.engine)

    def query(self, *args: Any) -> Any:  # type: ignore[override]
        """``session.query(*args)``: a :class:`SQLQuery` (the modern ``query(Model)`` is not offered here)."""
        session = self.session
        if session is None:
            raise NotConnectedError("SQLConnection.query: no session (call connect(config) first)")
        query = session.query(*args)
        if not isinstance(query, SQLQuery) and isinstance(session, (Session, scoped_session)):
            # A Session= of the caller's without SQLQuery as its query class.
            query = SQLQuery(list(args), session() if isinstance(session, scoped_session) else session)
        return query

    def close(self) -> None:
        """Close the session and dispose of the engine; ``connect`` may open them again."""
        self.end_session()
        if self.engine is not None:
            self.engine.dispose()

    def __repr__(self) -> str:
        if isinstance(self.engine, sa.engine.Engine):
            return f"<{type(self).__name__} {self.engine.url.render_as_string(hide_password=True)}>"
        return f"<{type(self).__name__} not connected>"


class SQLDatabaseCreator(DatabaseCreator):
    """``new_DBConnection(SQLDatabaseCreator)``: an unconnected compat :class:`SQLConnection`."""

    @classmethod
    def create_database(cls) -> SQLConnection:
        return SQLConnection()
