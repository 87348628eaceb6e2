"""Mongo migrations: versioned Python files, a record of what ran, a lock document.

Each revision is a file in the section's ``MIGRATIONS_DIR`` defining
``revision``, ``down_revision`` (the previous one, ``None`` for the first),
``upgrade(db)`` and ``downgrade(db)``, where ``db`` is the pymongo
``Database``. ``make_migrations`` compares the models' collections and
indexes with the database and writes the calls that make them agree, using
the idempotent helpers below; data migrations are ordinary pymongo code
added by hand.

Applied revisions are documents in ``_dbp_migrations``. There are no
transactions to lean on (FerretDB has none), so the record of a revision is
written only after its ``upgrade`` returned, and the steps are written to be
safe to run again after a failure. Concurrent runs are serialized by a lock
document (:func:`db_plugins.db.mongo.locks.document_lock`) that its holder
keeps fresh while it works.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import importlib.util
import json
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from pymongo import IndexModel
from pymongo import errors as mongo_errors

from ...config import importable, scrub
from ...errors import ConnectionError, DatabaseError, DBPluginsError, MigrationError
from ...migrations import LOCK_TIMEOUT, MigrationBackend, Revision, new_revision_id, slugify, summarize
from .config import MongoConfig
from .connection import MongoConnection
from .locks import LOCKS_COLLECTION, document_lock, lock_id
from .models import index_models

__all__ = [
    "MongoMigrations",
    "RECORDS_COLLECTION",
    "IndexModel",
    "create_collection",
    "create_indexes",
    "drop_collection",
    "drop_indexes",
]

#: What revision files import from here, in the order an import sorter wants.
HELPERS = ("IndexModel", "create_collection", "create_indexes", "drop_collection", "drop_indexes")

RECORDS_COLLECTION = "_dbp_migrations"
INITIAL_MESSAGE = "initial schema"
#: A lock holder that stops refreshing its lock for this long is presumed dead.
LOCK_TTL = 60.0
_INTERNAL_PREFIXES = ("_dbp_", "system.")
# Index properties that are bookkeeping, not part of what an index does.
_IGNORED_OPTIONS = {"v", "ns", "name", "key", "background"}


# -- helpers for revision files (each safe to run twice) ------------------------


def create_collection(db: Any, name: str) -> None:
    """Create collection ``name`` unless it exists."""
    if name not in db.list_collection_names():
        with contextlib.suppress(mongo_errors.CollectionInvalid):  # a concurrent creator won
            db.create_collection(name)


def drop_collection(db: Any, name: str) -> None:
    """Drop collection ``name`` (and its documents) if it exists."""
    db.drop_collection(name)


def create_indexes(db: Any, collection: str, indexes: Iterable[IndexModel]) -> None:
    """Create ``indexes`` on ``collection``; an identical index that exists already is left alone."""
    indexes = list(indexes)
    if indexes:
        db[collection].create_indexes(indexes)


def drop_indexes(db: Any, collection: str, names: Iterable[str]) -> None:
    """Drop the indexes called ``names`` from ``collection``, skipping those that do not exist."""
    existing = {index["name"] for index in db[collection].list_indexes()}
    for name in names:
        if name in existing:
            db[collection].drop_index(name)


# -- comparing models with the database -----------------------------------------


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _spec(document: Mapping[str, Any]) -> dict[str, Any]:
    """An index as ``{"key": [(field, direction), ...], option: value, ...}``, comparable across servers."""
    key = [(field, _number(direction)) for field, direction in dict(document["key"]).items()]
    options = {k: v for k, v in document.items() if k not in _IGNORED_OPTIONS and v is not False}
    return {"key": key, **options}


def _same_index(wanted: dict[str, Any], found: dict[str, Any]) -> bool:
    # An option the server does not report is one it does not keep (FerretDB
    # drops "sparse", for instance): recreating the index would not change
    # that, so only options both sides state are compared.
    return wanted["key"] == found["key"] and all(found[k] == v for k, v in wanted.items() if k in found)


@dataclass(frozen=True)
class Change:
    """One difference: ``kind`` is ``add_collection``, ``remove_collection``, ``add_index`` or ``remove_index``."""

    kind: str
    collection: str
    index: dict[str, Any] | None = None
    name: str | None = None
    #: For a removed collection: its indexes, so that the downgrade recreates them.
    indexes: tuple[tuple[str, dict[str, Any]], ...] = ()

    def describe(self) -> str:
        action, _, what = self.kind.partition("_")
        if what == "collection":
            return f"{action} collection {self.collection}"
        assert self.index is not None
        fields = ", ".join(f"{field} {direction}" for field, direction in self.index["key"])
        unique = "unique " if self.index.get("unique") else ""
        return f"{action} {unique}index {self.name} on {self.collection} ({fields})"


def compare(models: Iterable[Any], db: Any) -> list[Change]:
    """What must change in ``db`` for it to hold the collections and indexes of ``models``."""
    wanted: dict[str, dict[str, dict[str, Any]]] = {}
    for model in models:
        indexes = wanted.setdefault(model.__tablename__, {})
        for index in index_models(model):
            indexes[index.document["name"]] = _spec(index.document)
    existing = {name for name in db.list_collection_names() if not name.startswith(_INTERNAL_PREFIXES)}
    changes = []
    for collection, indexes in wanted.items():
        if collection not in existing:
            changes.append(Change("add_collection", collection))
            found: dict[str, dict[str, Any]] = {}
        else:
            found = _indexes(db, collection)
        for name, spec in indexes.items():
            if name in found and not _same_index(spec, found[name]):
                changes.append(Change("remove_index", collection, found[name], name))
            if name not in found or not _same_index(spec, found[name]):
                changes.append(Change("add_index", collection, spec, name))
        for name, spec in found.items():
            if name not in indexes:
                changes.append(Change("remove_index", collection, spec, name))
    for collection in sorted(existing - set(wanted)):
        changes.append(Change("remove_collection", collection, indexes=tuple(_indexes(db, collection).items())))
    return changes


def _indexes(db: Any, collection: str) -> dict[str, dict[str, Any]]:
    return {ix["name"]: _spec(ix) for ix in db[collection].list_indexes() if ix["name"] != "_id_"}


# -- writing revision files -------------------------------------------------------


def _literal(value: Any) -> str:
    """Python source for a BSON-ish value, double-quoted as a formatter would leave it."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(value)


class _Call:
    """A call (or list) rendered on one line when it fits, else one argument per line with trailing commas.

    That is the layout a formatter keeps, so generated revisions pass ``ruff format --check``.
    """

    def __init__(self, head: str, args: list[str | _Call], close: str = ")") -> None:
        self.head, self.args, self.close = head, args, close

    def inline(self) -> str:
        return self.head + ", ".join(a if isinstance(a, str) else a.inline() for a in self.args) + self.close

    def render(self, indent: int, tail: int = 0, width: int = 120) -> str:
        text = self.inline()
        if indent + len(text) + tail <= width:
            return text
        pad = " " * (indent + 4)
        lines = [pad + (a if isinstance(a, str) else a.render(indent + 4, tail=1)) + ",\n" for a in self.args]
        return self.head + "\n" + "".join(lines) + " " * indent + self.close


def _create_indexes_source(collection: str, indexes: Iterable[tuple[str, dict[str, Any]]]) -> list[str]:
    models: list[str | _Call] = [
        _Call(
            "IndexModel(",
            [_literal(spec["key"]), f"name={_literal(name)}"]
            + [f"{option}={_literal(value)}" for option, value in spec.items() if option != "key"],
        )
        for name, spec in indexes
    ]
    if not models:
        return []
    return [_Call("create_indexes(", ["db", _literal(collection), _Call("[", models, "]")]).render(4)]


def _steps(changes: list[Change]) -> tuple[list[str], list[str]]:
    """The ``upgrade`` and ``downgrade`` statements for ``changes`` (downgrade in reverse order)."""
    added = {change.collection for change in changes if change.kind == "add_collection"}
    up: list[str] = []
    down: list[list[str]] = []
    for change in changes:
        collection = _literal(change.collection)
        if change.kind == "add_collection":
            up.append(f"create_collection(db, {collection})")
            down.append([f"drop_collection(db, {collection})"])
        elif change.kind == "remove_collection":
            up.append(f"drop_collection(db, {collection})")
            recreate = _create_indexes_source(change.collection, change.indexes)
            down.append([f"create_collection(db, {collection})", *recreate])
        elif change.kind == "add_index":
            assert change.name and change.index is not None
            up.extend(_create_indexes_source(change.collection, [(change.name, change.index)]))
            if change.collection not in added:  # else dropping the collection drops it
                down.append([f"drop_indexes(db, {collection}, [{_literal(change.name)}])"])
        else:
            assert change.name and change.index is not None
            up.append(f"drop_indexes(db, {collection}, [{_literal(change.name)}])")
            down.append(_create_indexes_source(change.collection, [(change.name, change.index)]))
    return up, [line for group in reversed(down) for line in group]


def render_revision(revision: str, down_revision: str | None, message: str, changes: list[Change]) -> str:
    """The text of a revision file carrying out ``changes``."""
    up, down = _steps(changes)
    text = "\n".join([*up, *down])
    # One import (IndexModel is re-exported here), so it sorts the same wherever db_plugins is installed.
    names = [name for name in HELPERS if f"{name}(" in text]
    imports = [f"from db_plugins.db.mongo.migrations import {', '.join(names)}\n"] if names else []
    template = Template((resources.files(__package__) / "templates" / "revision.py.tmpl").read_text(encoding="utf-8"))
    return template.substitute(
        message=message,
        revision=revision,
        down_revision=down_revision or "<base>",
        create_date=_dt.datetime.now().replace(microsecond=0).isoformat(sep=" "),
        imports="\n" + "".join(imports) if imports else "",
        revision_literal=_literal(revision),
        down_revision_literal=_literal(down_revision) if down_revision else "None",
        upgrade="\n".join(f"    {line}" for line in up) or "    pass",
        downgrade="\n".join(f"    {line}" for line in down) or "    pass",
    )


# -- reading revision files ---------------------------------------------------------


@dataclass
class Script:
    """One revision file, loaded."""

    id: str
    down: str | None
    message: str
    path: Path
    module: Any


def _load(path: Path, base_dir: Path | None) -> Script:
    name = "_dbp_mongo_revision_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with importable(base_dir):  # a data migration may import the project's modules
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise MigrationError(f"{path}: cannot load revision: {type(exc).__name__}: {scrub(exc)}") from None
    revision, down = getattr(module, "revision", None), getattr(module, "down_revision", None)
    if not isinstance(revision, str) or not revision or not (down is None or isinstance(down, str)):
        raise MigrationError(f"{path}: expected revision = '<id>' and down_revision = '<id>' or None")
    for function in ("upgrade", "downgrade"):
        if not callable(getattr(module, function, None)):
            raise MigrationError(f"{path}: defines no {function}(db) function")
    message = (module.__doc__ or "").strip().splitlines()[0] if (module.__doc__ or "").strip() else ""
    return Script(revision, down, message, path, module)


def load_chain(directory: Path, base_dir: Path | None = None) -> list[Script]:
    """The revisions of ``directory`` from the first to the head (one line of descent)."""
    scripts: dict[str, Script] = {}
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        script = _load(path, base_dir)
        if script.id in scripts:
            raise MigrationError(f"{path}: revision {script.id} is also defined in {scripts[script.id].path.name}")
        scripts[script.id] = script
    children: dict[str | None, list[Script]] = {}
    for script in scripts.values():
        if script.down is not None and script.down not in scripts:
            raise MigrationError(f"{script.path}: down_revision {script.down!r} is not in {directory}")
        children.setdefault(script.down, []).append(script)
    chain: list[Script] = []
    parent: str | None = None
    while parent in children:
        following = children[parent]
        if len(following) > 1:
            names = ", ".join(sorted(s.id for s in following))
            raise MigrationError(
                f"{directory}: revisions {names} all follow {parent or 'the base'}; "
                "set their down_revision to make one line"
            )
        chain.append(following[0])
        parent = following[0].id
    if len(chain) != len(scripts):
        looping = ", ".join(sorted(set(scripts) - {script.id for script in chain}))
        raise MigrationError(f"{directory}: revisions {looping} form a loop")
    return chain


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC).replace(tzinfo=None)  # BSON datetimes are naive UTC


# -- the backend ----------------------------------------------------------------------


class MongoMigrations(MigrationBackend):
    """Migrations of one ``MONGO`` section."""

    config: MongoConfig

    @contextlib.contextmanager
    def _session(self, lock: bool) -> Iterator[Any]:
        """An open connection (holding the migration lock when ``lock``) whose pymongo errors become ours."""
        connection = MongoConnection(self.config)
        try:
            with self._errors(), connection.guard():
                if not lock:
                    yield connection
                    return
                name = lock_id("dbp-migrate", self.config.database)
                try:
                    with document_lock(connection, name, ttl=LOCK_TTL, timeout=LOCK_TIMEOUT) as owner:
                        with self._keep_fresh(connection, name, owner):
                            yield connection
                except TimeoutError as exc:
                    raise MigrationError(f"{self.config.section}: {exc} (is another dbp migrate running?)") from None
        finally:
            connection.close()

    @contextlib.contextmanager
    def _keep_fresh(self, connection: Any, name: str, owner: str) -> Iterator[None]:
        """Push the lock's expiry forward while the block runs, so a long migration keeps it."""
        stop = threading.Event()
        locks = connection.database[LOCKS_COLLECTION]

        def beat() -> None:
            while not stop.wait(LOCK_TTL / 4):
                with contextlib.suppress(Exception):  # a missed beat is retried; expiry is far off
                    expires = _now() + _dt.timedelta(seconds=LOCK_TTL)
                    locks.update_one({"_id": name, "owner": owner}, {"$set": {"expires": expires}})

        thread = threading.Thread(target=beat, name="dbp-lock-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except DatabaseError as exc:  # a server error the connection's guard() translated
            raise MigrationError(f"{self.config.section}: {exc}") from exc
        except DBPluginsError:
            raise
        except mongo_errors.PyMongoError as exc:
            detail = str(exc).split(", full error:")[0]
            raise MigrationError(f"{self.config.section}: {scrub(detail)}") from exc

    def _chain(self) -> list[Script]:
        self.require_directory()
        return load_chain(self.directory, self.config.base_dir)

    def _applied(self, connection: Any) -> set[str]:
        return {doc["_id"] for doc in connection.database[RECORDS_COLLECTION].find({}, {"_id": 1})}

    def _record(self, connection: Any, script: Script) -> None:
        record = {"_id": script.id, "message": script.message, "applied_at": _now()}
        connection.database[RECORDS_COLLECTION].replace_one({"_id": script.id}, record, upsert=True)

    def _position(self, chain: list[Script], applied: set[str]) -> list[str]:
        unknown = applied - {script.id for script in chain}
        if unknown:
            raise MigrationError(
                f"{self.config.section}: the database has revision(s) {', '.join(sorted(unknown))} applied, "
                f"which {self.relative(self.directory)} does not have"
            )
        return [script.id for script in chain if script.id in applied]

    def _require_head(self, chain: list[Script], applied: set[str]) -> None:
        if self._position(chain, applied) != [script.id for script in chain]:
            raise MigrationError(
                f"{self.config.section}: the database is not at the head revision (run dbp migrate first)"
            )

    def _resolve(self, target: str, chain: list[Script], applied: set[str]) -> int:
        """The index in ``chain`` of the last revision wanted applied (-1: none)."""
        ids = [script.id for script in chain]
        if target in ("head", "heads"):
            return len(chain) - 1
        if target == "base":
            return -1
        if target[:1] in "+-" and target[1:].isdigit():
            position = self._position(chain, applied)
            current = ids.index(position[-1]) if position else -1
            wanted = current + int(target)
            if not -1 <= wanted < len(chain):
                raise MigrationError(f"{self.config.section}: relative revision {target} is outside the history")
            return wanted
        matches = [i for i, rev in enumerate(ids) if rev == target] or [
            i for i, rev in enumerate(ids) if len(target) >= 4 and rev.startswith(target)
        ]
        if len(matches) != 1:
            what = "is ambiguous" if matches else "is unknown"
            raise MigrationError(
                f"{self.config.section}: Can't locate revision identified by {target!r} (it {what}; see dbp history)"
            )
        return matches[0]

    # -- commands ---------------------------------------------------------------

    def initdb(self) -> bool:
        with self._session(lock=True) as connection:
            created_dir = not self.directory.is_dir()
            self.directory.mkdir(parents=True, exist_ok=True)
            if created_dir:
                self.say(f"created migrations directory {self.relative(self.directory)}")
            chain = self._chain()
            applied = self._applied(connection)
            if applied:
                position = self._position(chain, applied)
                pending = len(chain) - len(position)
                hint = f" ({pending} revision(s) pending: run dbp migrate)" if pending else ""
                self.say(f"already initialized at {position[-1] if position else 'base'}; nothing to do{hint}")
                return created_dir
            models = connection.models
            if not chain and models:
                changes = compare(models, _Empty())
                path = self._write(INITIAL_MESSAGE, None, changes)
                self.say(f"wrote initial revision {self.relative(path)}")
                chain = self._chain()
            before = set(connection.database.list_collection_names())
            connection.create_db()
            created = [model.__tablename__ for model in models if model.__tablename__ not in before]
            self.say(f"created collections: {', '.join(created) or 'none; all exist'}")
            for script in chain:
                self._record(connection, script)
            self.say(f"stamped at {chain[-1].id if chain else 'base (no revisions)'}")
            return True

    def _write(self, message: str, down: str | None, changes: list[Change]) -> Path:
        revision = new_revision_id()
        path = self.directory / f"{revision}_{slugify(message)}.py"
        path.write_text(render_revision(revision, down, message, changes), encoding="utf-8")
        return path

    def make_migrations(self, message: str | None = None) -> Path | None:
        chain = self._chain()
        with self._session(lock=False) as connection:
            self._require_head(chain, self._applied(connection))
            changes = compare(connection.models, connection.database)
        if not changes:
            self.say("No changes detected")
            return None
        descriptions = [change.describe() for change in changes]
        path = self._write(message or summarize(descriptions), chain[-1].id if chain else None, changes)
        self.say(f"wrote {self.relative(path)} ({path.name.split('_', 1)[0]}: {message or summarize(descriptions)})")
        for description in descriptions:
            self.say(f"  {description}")
        return path

    def migrate(self, target: str = "head") -> list[str]:
        chain = self._chain()
        with self._session(lock=True) as connection:
            applied = self._applied(connection)
            self._position(chain, applied)
            last = self._resolve(target, chain, applied)
            pending = [script for script in chain[: last + 1] if script.id not in applied]
            for script in pending:
                self._run(connection, script, "upgrade")
                self._record(connection, script)
                self.revision_done(script.id)
            position = self._position(chain, self._applied(connection))
        return self._report([s.id for s in pending], position, "applied")

    def downgrade(self, target: str) -> list[str]:
        chain = self._chain()
        with self._session(lock=True) as connection:
            applied = self._applied(connection)
            self._position(chain, applied)
            last = self._resolve(target, chain, applied)
            reverting = [script for script in reversed(chain[last + 1 :]) if script.id in applied]
            for script in reverting:
                self._run(connection, script, "downgrade")
                connection.database[RECORDS_COLLECTION].delete_one({"_id": script.id})
                self.revision_done(script.id)
            position = self._position(chain, self._applied(connection))
        return self._report([s.id for s in reverting], position, "reverted")

    def _report(self, moved: list[str], position: list[str], verb: str) -> list[str]:
        at = position[-1] if position else "base"
        if moved:
            self.say(f"{verb} {len(moved)} revision(s): {', '.join(moved)}; now at {at}")
        else:
            self.say(f"already at {at}; nothing to {'apply' if verb == 'applied' else 'revert'}")
        return moved

    def _run(self, connection: Any, script: Script, step: str) -> None:
        try:
            with connection.guard(write=True), importable(self.config.base_dir):
                getattr(script.module, step)(connection.database)
        except Exception as exc:
            detail = scrub(str(exc).split(", full error:")[0])
            # A lost server stays a ConnectionError (what callers retry on), with the same report.
            error = ConnectionError if isinstance(exc, ConnectionError) else MigrationError
            raise error(
                f"{self.config.section}: {step} of revision {script.id} ({script.path.name}) failed and was not "
                f"recorded: {type(exc).__name__}: {detail}"
            ) from exc

    def history(self) -> list[Revision]:
        chain = self._chain()
        with self._session(lock=False) as connection:
            applied = self._applied(connection)
        head = chain[-1].id if chain else None
        return [
            Revision(
                id=script.id,
                down_revisions=(script.down,) if script.down else (),
                message=script.message,
                path=script.path,
                is_head=script.id == head,
                applied=script.id in applied,
            )
            for script in reversed(chain)
        ]

    def current(self) -> list[str]:
        chain = self._chain()
        with self._session(lock=False) as connection:
            position = self._position(chain, self._applied(connection))
        return position[-1:]

    def check(self) -> list[str]:
        chain = self._chain()
        with self._session(lock=False) as connection:
            position = self._position(chain, self._applied(connection))
            if position != [script.id for script in chain]:
                at = position[-1] if position else "base"
                head = chain[-1].id if chain else "base"
                return [f"the database is at {at}, not at the head revision {head} (run dbp migrate)"]
            return [change.describe() for change in compare(connection.models, connection.database)]


class _Empty:
    """A database with nothing in it, to diff the models against for the initial revision."""

    def list_collection_names(self) -> list[str]:
        return []
