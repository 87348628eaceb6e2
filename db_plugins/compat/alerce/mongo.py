"""ALeRCE db-plugins 4.x's Mongo forms: ``MongoConnection``, ``MongoQuery`` over pymongo, 4.x models.

Replaces the 4.x modules ``db_plugins.db.mongo.connection``,
``db_plugins.db.mongo.query``, ``db_plugins.db.mongo.orm`` and the
``BaseModel`` of ``db_plugins.db.mongo.models``::

    from db_plugins.compat.alerce.mongo import MongoConnection, MongoQuery, BaseModel, Field, SpecialField

As in 4.x: filters are pymongo filter documents (or aggregation pipelines)
passed as they are; models are dicts whose fields are untyped, computed by a
``SpecialField`` callback when needed (``_id`` included); ``get_or_create``,
``update``, ``bulk_insert`` and ``bulk_update`` return pymongo's results;
``create_db`` creates every model's collection and indexes, and ``drop_db``
drops the whole database. ``MongoConnection(config)`` does not connect:
``connect()`` does, passing every configuration key but ``DATABASE`` to
``MongoClient`` (``AUTH_SOURCE`` as ``authSource``).

What differs from 4.x: pymongo's errors are raised as db_plugins errors (the
pymongo error as ``__cause__``), and ``paginate`` returns a
:class:`db_plugins.Pagination`.
"""

from __future__ import annotations

import contextlib
from collections import UserDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import zip_longest
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from bson import errors as bson_errors
from pymongo import MongoClient, UpdateOne
from pymongo import errors as mongo_errors
from pymongo.results import BulkWriteResult

from ...db.generic import DatabaseConnection, DatabaseCreator
from ...db.mongo import MongoConnection as _ModernConnection
from ...db.mongo.errors import DUPLICATE_CODES, translate_error
from ...errors import (
    BulkDuplicateKeyError,
    BulkWriteError,
    ConfigError,
    NotFoundError,
    UnsupportedOperation,
    ValidationError,
)
from ...pagination import Pagination
from ._common import AlerceCompatWarning, NotConnectedError, deprecated

__all__ = [
    "MongoConnection",
    "MongoDatabaseCreator",
    "MongoQuery",
    "CollectionNotFound",
    "BaseModel",
    "BaseModelWithExtraFields",
    "Field",
    "SpecialField",
    "ModelMetaClass",
    "Metadata",
    "MissingFieldError",
    "NotConnectedError",
    "AlerceCompatWarning",
    "Pagination",
    "MongoClient",
]


@contextlib.contextmanager
def _guard(where: str) -> Iterator[None]:
    """pymongo's errors as db_plugins errors, the original as ``__cause__``."""
    try:
        yield
    except mongo_errors.BulkWriteError as exc:
        details = exc.details or {}
        failed = details.get("writeErrors") or []
        written = details.get("nInserted", 0) + details.get("nModified", 0) + details.get("nUpserted", 0)
        keys = [(error.get("op") or {}).get("_id") for error in failed]
        duplicates = bool(failed) and all(error.get("code") in DUPLICATE_CODES for error in failed)
        kind = BulkDuplicateKeyError if duplicates else BulkWriteError
        first = failed[0].get("errmsg", "") if failed else str(exc)
        raise kind(f"{len(failed)} of the writes failed ({written} done): {first}", written, keys) from exc
    except (mongo_errors.PyMongoError, bson_errors.BSONError) as exc:
        new = translate_error(exc, where)
        if new is exc:
            raise
        raise new from exc


# -- models ---------------------------------------------------------------------------


class MissingFieldError(ValidationError, AttributeError):
    """A model was built without one of its fields (an ``AttributeError`` in 4.x)."""


class Field:
    """A field of a 4.x model: any value, required when the model is built."""


class SpecialField(Field):
    """A field computed by ``callback(**kwargs)`` from the constructor's arguments (``_id`` may be one)."""

    def __init__(self, callback: Callable[..., Any]) -> None:
        self.callback = callback


class ModelMetadata:
    """What a model declares: its collection, fields and indexes (``Model._meta``)."""

    def __init__(self, tablename: str, fields: dict[str, Field], indexes: list[Any]) -> None:
        self.tablename = tablename
        self.fields = fields
        self.indexes = indexes

    def __repr__(self) -> str:
        return repr({"tablename": self.tablename, "fields": self.fields, "indexes": self.indexes})


class Metadata:
    """Every 4.x model defined, by collection (``BaseModel.metadata``), and the database in use."""

    database = "DEFAULT_DATABASE"

    def __init__(self) -> None:
        self.collections: dict[str, dict[str, Any]] = {}

    def create_all(self, client: Any, database: str | None = None) -> None:
        """Create each model's collection (where missing) and indexes."""
        self.database = database or self.database
        db = client[self.database]
        existing = set(db.list_collection_names())
        for name, declared in self.collections.items():
            if name not in existing:
                with contextlib.suppress(mongo_errors.CollectionInvalid):
                    db.create_collection(name)
            if declared["indexes"]:
                db[name].create_indexes(list(declared["indexes"]))

    def drop_all(self, client: Any, database: str | None = None) -> None:
        """Drop the whole database, as 4.x did."""
        self.database = database or self.database
        client.drop_database(self.database)


class ModelMetaClass(type):
    """Registers each model with fields in :attr:`metadata` and gives it ``_meta``."""

    metadata: ClassVar[Metadata] = Metadata()

    def __new__(mcs, name: str, bases: tuple[type, ...], attrs: dict[str, Any]) -> ModelMetaClass:
        cls = super().__new__(mcs, name, bases, attrs)
        fields = {key: value for key, value in attrs.items() if isinstance(value, Field)}
        if not fields:  # an abstract base
            return cls
        extra = getattr(cls, "create_extra_fields", None)
        if extra is not None:
            fields["extra_fields"] = SpecialField(extra)
        tablename = attrs.get("__tablename__")
        if not isinstance(tablename, str):
            raise TypeError(f"{name}: a model with fields needs __tablename__ (its collection's name)")
        indexes = list(attrs.get("__table_args__", []))
        mcs.metadata.collections[tablename] = {"indexes": indexes, "fields": fields}
        cls._meta = ModelMetadata(tablename, fields, indexes)
        return cls

    @classmethod
    def set_database(mcs, database: str) -> None:  # noqa: N804
        mcs.metadata.database = database


class BaseModel(dict, metaclass=ModelMetaClass):
    """A 4.x document: a dict of the model's fields, built from keyword arguments.

    Each :class:`Field` takes the argument of its name (missing:
    :class:`MissingFieldError`); each :class:`SpecialField` the value of its
    callback; arguments that are not fields are left out, except ``_id``.
    """

    _meta: ClassVar[ModelMetadata]

    def __init__(self, **kwargs: Any) -> None:
        fields = self._meta.fields
        document: dict[str, Any] = {}
        if "_id" in kwargs and "_id" not in fields:
            document["_id"] = kwargs["_id"]
        for name, field in fields.items():
            try:
                document[name] = field.callback(**kwargs) if isinstance(field, SpecialField) else kwargs[name]
            except KeyError:
                raise MissingFieldError(f"{type(self).__name__} model needs {name} attribute") from None
        super().__init__(**document)


class BaseModelWithExtraFields(BaseModel):
    """A model keeping the arguments that are not fields in its ``extra_fields`` dict."""

    @classmethod
    def create_extra_fields(cls, **kwargs: Any) -> dict[str, Any]:
        if "extra_fields" in kwargs:
            return kwargs["extra_fields"]
        return {key: value for key, value in kwargs.items() if key not in cls._meta.fields}


# -- connection -----------------------------------------------------------------------


class _MongoConfig(UserDict):
    """A 4.x ``MONGO`` section as ``MongoClient`` keyword arguments.

    Keys of any case, ``snake_case`` turned to ``lowerCamelCase``
    (``AUTH_SOURCE`` -> ``authSource``); ``HOST`` and ``DATABASE`` are required
    (or a ``URL``, which may name the database); ``DATABASE`` is kept apart as
    :attr:`db_name`. Keys pymongo does not know are refused by ``MongoClient``.
    """

    REQUIRED_KEYS = frozenset({"host", "database"})

    def __init__(self, seq: Any = None, **kwargs: Any) -> None:
        super().__init__(seq, **kwargs)
        url = self.data.pop("url", None)
        if url is not None:
            self.data["host"] = url
            database = unquote(urlsplit(str(url)).path.lstrip("/"))
            if database and "database" not in self.data:
                self.data["database"] = database
        missing = sorted(self.REQUIRED_KEYS - set(self.data))
        if missing:
            raise ConfigError(f"DB_CONFIG['MONGO']: missing {', '.join(key.upper() for key in missing)}")
        self._db_name: str = self.data.pop("database")

    @property
    def db_name(self) -> str:
        return self._db_name

    def __setitem__(self, key: str, value: Any) -> None:
        words = key.split("_")
        super().__setitem__(words[0].lower() + "".join(word.title() for word in words[1:]), value)


class MongoConnection(DatabaseConnection):
    """4.x's ``MongoConnection``: keeps ``config`` until :meth:`connect` opens ``client`` and ``database``."""

    plugin_name = "MONGO"

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.config = config
        self.client: Any = None
        self.database: Any = None

    @property
    def config(self) -> _MongoConfig | None:
        return self._config

    @config.setter
    def config(self, config: Mapping[str, Any] | None) -> None:
        self._config = config if config is None or isinstance(config, _MongoConfig) else _MongoConfig(config)

    @property
    def _where(self) -> str:
        return self._config.db_name if self._config is not None else "(not connected)"

    def connect(self, config: Mapping[str, Any] | None = None) -> MongoConnection:  # type: ignore[override]
        """Open the client (``MongoClient(**config)``) and select the configured database."""
        if config is not None:
            self.config = config
        elif self._config is None:
            raise ConfigError("MongoConnection.connect: no configuration (pass the DB_CONFIG['MONGO'] section)")
        else:
            deprecated("MongoConnection(config).connect()", "db_plugins.connect(config), which connects at once")
        assert self._config is not None
        if self.client is None and str(self._config.get("host", "")).startswith("mongomock://"):
            # The in-process engine, as db-plugins serves it: every client of one URL host
            # sees the same data.
            url = self._config["host"]
            self.client = _ModernConnection({"URL": url, "DATABASE": self._config.db_name}).client
        if self.client is None:
            try:
                self.client = MongoClient(**self._config)
            except (mongo_errors.ConfigurationError, TypeError, ValueError) as exc:
                raise ConfigError(f"DB_CONFIG['MONGO']: {exc}") from exc
        self.database = self.client[self._config.db_name]
        ModelMetaClass.set_database(self._config.db_name)
        return self

    def _open(self, config: Any, **options: Any) -> None:  # pragma: no cover - connect() is overridden
        raise NotImplementedError

    def _connected(self, what: str) -> _MongoConfig:
        if self.client is None or self._config is None:
            raise NotConnectedError(f"MongoConnection.{what}: not connected (call connect(config) first)")
        return self._config

    def create_db(self) -> None:
        """Create the collections and indexes of every 4.x model defined."""
        config = self._connected("create_db")
        with _guard(self._where):
            ModelMetaClass.metadata.create_all(self.client, config.db_name)

    def drop_db(self) -> None:
        """Drop the whole database (4.x's behaviour; the modern ``drop_db`` drops the models' collections)."""
        config = self._connected("drop_db")
        with _guard(self._where):
            ModelMetaClass.metadata.drop_all(self.client, config.db_name)

    def query(self, model: type[BaseModel] | None = None, name: str | None = None) -> MongoQuery:  # type: ignore[override]
        """A :class:`MongoQuery` of ``model``'s collection, or of collection ``name`` for pymongo's API."""
        self._connected("query")
        if name is not None:
            deprecated("MongoConnection.query(name=...)", f"db.database[{name!r}] (pymongo's Collection)")
        return MongoQuery(self.database, model=model, name=name, connection=self)

    def _new_query(self, model: Any) -> MongoQuery:
        return self.query(model)

    def close(self) -> None:
        """Close the client; ``connect`` opens a new one."""
        if self.client is not None:
            self.client.close()
        self.client = self.database = None

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        raise UnsupportedOperation(
            "transaction: the 4.x MongoConnection has none; use db_plugins.connect(config).transaction()"
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._where}>"


class MongoDatabaseCreator(DatabaseCreator):
    """``new_DBConnection(MongoDatabaseCreator)``: an unconnected compat :class:`MongoConnection`."""

    @classmethod
    def create_database(cls) -> MongoConnection:
        return MongoConnection()


# -- query ----------------------------------------------------------------------------


class CollectionNotFound(NotFoundError):
    """A :class:`MongoQuery` method was called with no model or collection to work on."""


class MongoQuery:
    """4.x's query over one collection: pymongo filters, results as pymongo returns them.

    ``MongoQuery(database, model=Model)`` (or ``name=``/``collection_name=``
    for a collection without a model); a method's ``model=`` switches the
    query to that model, as in 4.x.
    """

    def __init__(
        self,
        database: Any,
        model: type[BaseModel] | None = None,
        name: str | None = None,
        *,
        collection_name: str | None = None,
        connection: MongoConnection | None = None,
    ) -> None:
        name = name if name is not None else collection_name
        if connection is None:
            deprecated("MongoQuery(database, model=...)", "db.query(Model) on a connection")
        if model is not None and name is not None:
            raise ValueError("Only one of 'model' or 'name' can be defined")
        self.model = model
        self.collection: Any = None
        self._db = database
        self._where = getattr(database, "name", "MongoDB")
        if name is not None:
            self.collection = database[name]
        elif model is not None:
            self.init_collection(model)

    def init_collection(self, model: type[BaseModel] | None = None) -> None:
        """Work on ``model``'s collection; without one, on the collection already chosen."""
        if model is not None:
            self.model = model
            self.collection = self._db[model._meta.tablename]
        elif self.collection is None:
            raise CollectionNotFound("A valid model must be provided at instantiation or in method call")

    def _use(self, model: type[BaseModel] | None, what: str) -> None:
        if model is not None:
            deprecated(f"query().{what}(model=...)", f"db.query({model.__name__}).{what}(...)", stacklevel=4)
        self.init_collection(model)

    def check_exists(self, filter_by: Mapping[str, Any] | None = None, model: type[BaseModel] | None = None) -> bool:
        """Whether a document matches ``filter_by``."""
        self._use(model, "check_exists")
        with _guard(self._where):
            return self.collection.count_documents(filter_by or {}, limit=1) != 0

    def get_or_create(
        self, filter_by: Mapping[str, Any] | None = None, model: type[BaseModel] | None = None, **kwargs: Any
    ) -> tuple[Any, bool]:
        """``(document, False)`` if one matches ``filter_by``, else ``(InsertOneResult, True)``.

        The new document is ``model(**kwargs, **filter_by)``.
        """
        filter_by = filter_by or {}
        self._use(model, "get_or_create")
        with _guard(self._where):
            found = self.collection.find_one(filter_by)
            if found is not None:
                return found, False
            assert self.model is not None, "get_or_create needs a model"
            return self.collection.insert_one(self.model(**{**kwargs, **filter_by})), True

    def update(self, instance: Mapping[str, Any], attrs: Mapping[str, Any]) -> Any:
        """``$set`` ``attrs`` on the document equal to ``instance``; pymongo's ``UpdateResult``."""
        self.init_collection(type(instance) if isinstance(instance, BaseModel) else None)
        with _guard(self._where):
            return self.collection.update_one(instance, {"$set": attrs})

    def bulk_update(
        self,
        instances: Sequence[Mapping[str, Any]],
        attrs: Sequence[Mapping[str, Any]],
        filter_fields: Sequence[Mapping[str, Any]] | None = None,
    ) -> Any:
        """``$set`` ``attrs[i]`` on the document equal to ``instances[i]`` (or matching
        ``filter_fields[i]``) in one unordered ``bulk_write``; pymongo's ``BulkWriteResult``."""
        if len(instances) == 0:
            return None
        model = type(instances[0])
        if any(type(instance) is not model for instance in instances):
            raise TypeError("All instances must have the same model class")
        if len(instances) != len(attrs):
            raise ValueError("Length of instances and attributes must match")
        filter_fields = list(filter_fields or [])
        if filter_fields:
            deprecated(
                "bulk_update(..., filter_fields=...)", "db.query(Model).update_many(filter_by, attrs) for each filter"
            )
            if len(filter_fields) != len(instances):
                raise ValueError("Length of filter_fields must be 0 or equal to instances")
        self.init_collection(model if issubclass(model, BaseModel) else None)
        requests = [
            UpdateOne(where or instance, {"$set": attr})
            for instance, attr, where in zip_longest(instances, attrs, filter_fields)
        ]
        with _guard(self._where):
            try:
                return self.collection.bulk_write(requests=requests, ordered=False)
            except TypeError:
                # mongomock builds a bulk before running any of it, and cannot take the
                # requests of pymongo >= 4.9 (their ``sort``): nothing is written yet.
                return self._one_by_one(requests)

    def _one_by_one(self, requests: Sequence[UpdateOne]) -> BulkWriteResult:
        matched = modified = 0
        for request in requests:
            result = self.collection.update_one(request._filter, request._doc)
            matched += result.matched_count
            modified += result.modified_count
        counts = {"nInserted": 0, "nUpserted": 0, "nMatched": matched, "nModified": modified, "nRemoved": 0}
        return BulkWriteResult({**counts, "upserted": [], "writeErrors": [], "writeConcernErrors": []}, True)

    def bulk_insert(self, documents: Sequence[Mapping[str, Any]], model: type[BaseModel] | None = None) -> Any:
        """Insert ``model(**document)`` for each document; pymongo's ``InsertManyResult``."""
        if len(documents) == 0:
            return None
        self._use(model, "bulk_insert")
        assert self.model is not None, "bulk_insert needs a model"
        built = [self.model(**document) for document in documents]
        with _guard(self._where):
            return self.collection.insert_many(built)

    @staticmethod
    def _pipeline(filter_by: Any) -> list[dict[str, Any]]:
        """A filter document as a ``$match`` stage; a pipeline copied (4.x appended to the caller's)."""
        if filter_by is None:
            return [{"$match": {}}]
        if isinstance(filter_by, Mapping):
            return [{"$match": dict(filter_by)}]
        return list(filter_by)

    def paginate(
        self,
        *args: Any,
        filter_by: Any = None,
        page: int = 1,
        per_page: int = 10,
        count: bool = True,
        max_results: int | None = 50000,
    ) -> Pagination[Any]:
        """One page of the documents matching ``filter_by`` (a filter or an aggregation pipeline).

        ``total`` counts at most ``max_results`` (``total_capped`` says so).
        4.x's positional order ``paginate(filter_by, page, per_page, count,
        max_results)`` is accepted, with a warning.
        """
        if args:
            deprecated(
                "paginate(filter_by, page, per_page) with positional arguments",
                "keywords: paginate(filter_by=..., page=..., per_page=...)",
            )
            names = ("filter_by", "page", "per_page", "count", "max_results")
            if len(args) > len(names):
                raise TypeError(f"paginate takes at most {len(names)} positional arguments")
            given = dict(zip(names, args))
            filter_by = given.get("filter_by", filter_by)
            page = given.get("page", page)
            per_page = given.get("per_page", per_page)
            count = given.get("count", count)
            max_results = given.get("max_results", max_results)
        self.init_collection()
        page = max(page, 1)
        per_page = per_page if per_page > 0 else 10
        pipeline = self._pipeline(filter_by)
        with _guard(self._where):
            window = [{"$skip": per_page * (page - 1)}, {"$limit": per_page + 1}]
            items = list(self.collection.aggregate(pipeline + window))
            total = None
            if count:
                # Sorting changes nothing in a count, and can be slow.
                counting = [stage for stage in pipeline if "$sort" not in stage]
                if max_results:
                    counting.append({"$limit": max_results})
                summary = list(self.collection.aggregate([*counting, {"$count": "n"}]))
                total = summary[0]["n"] if summary else 0
        capped = bool(count and max_results and total >= max_results)

        def fetch(page: int, cursor: Any = None) -> Pagination[Any]:
            return self.paginate(
                filter_by=filter_by, page=page, per_page=per_page, count=count, max_results=max_results
            )

        return Pagination(
            items[:per_page], page, per_page, total, has_next=len(items) > per_page, total_capped=capped, fetch=fetch
        )

    def find_one(
        self, filter_by: Mapping[str, Any] | None = None, model: type[BaseModel] | None = None, **kwargs: Any
    ) -> Any:
        """The first document matching ``filter_by`` (``kwargs`` go to pymongo's ``find_one``), or ``None``."""
        self._use(model, "find_one")
        with _guard(self._where):
            return self.collection.find_one(filter_by or {}, **kwargs)

    def find_all(
        self,
        filter_by: Any = None,
        model: type[BaseModel] | None = None,
        paginate: bool = True,
        **kwargs: Any,
    ) -> Any:
        """A page of the matching documents (``kwargs`` go to :meth:`paginate`), or with
        ``paginate=False`` pymongo's cursor over ``aggregate`` (``kwargs`` go to it)."""
        self._use(model, "find_all")
        pipeline = self._pipeline(filter_by)
        if paginate:
            return self.paginate(filter_by=pipeline, **kwargs)
        with _guard(self._where):
            return self.collection.aggregate(pipeline, **kwargs)

    def __repr__(self) -> str:
        return f"MongoQuery(model={getattr(self.model, '__name__', None)})"
