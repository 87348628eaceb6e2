"""The migration backend of a ``MONGO`` section: what ``dbp initdb/migrate/...`` run.

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
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pymongo import errors as mongo_errors

from ....config import importable, scrub
from ....errors import ConnectionError, DatabaseError, DBPluginsError, MigrationError
from ....migrations import LOCK_TIMEOUT, MigrationBackend, Revision, new_revision_id, slugify, summarize
from ..config import MongoConfig
from ..connection import MongoConnection
from ..locks import LOCKS_COLLECTION, document_lock, lock_id
from .compare import EMPTY, Change, compare
from .render import render_revision
from .scripts import Script, load_chain

__all__ = ["MongoMigrations", "RECORDS_COLLECTION", "LOCK_TTL"]

RECORDS_COLLECTION = "_dbp_migrations"
INITIAL_MESSAGE = "initial schema"
#: A lock holder that stops refreshing its lock for this long is presumed dead.
LOCK_TTL = 60.0


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
                changes = compare(models, EMPTY)
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
