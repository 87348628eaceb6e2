"""Running compiled Mongo commands: the one place the query interface calls pymongo.

:class:`SyncExecutor` runs each command (:mod:`db_plugins.db.mongo.commands`)
with the connection's ``MongoClient`` (or mongomock's), inside the
transaction's session when there is one, under the connection's ``guard()``
(pymongo errors become db-plugins errors; writes are serialized on in-process
engines). It holds no query logic, so an async executor over pymongo's
``AsyncMongoClient`` can run the same commands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from pymongo import ReadPreference, ReturnDocument

from .commands import BulkWriteCommand, CountCommand, DeleteCommand, FindCommand, InsertCommand, UpdateCommand

__all__ = ["SyncExecutor"]


class SyncExecutor:
    """Runs commands on one :class:`~db_plugins.db.mongo.MongoConnection`, blocking."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self._collections: dict[str, Any] = {}

    def collection(self, name: str) -> Any:
        """The native pymongo ``Collection`` called ``name`` (one object per name)."""
        collection = self._collections.get(name)
        if collection is None:
            collection = self._collections[name] = self.connection.database[name]
        return collection

    def reads(self, name: str) -> Any:
        """The collection reads use: the client's read preference (``readPreference``), or the
        primary inside ``db.primary()``."""
        collection = self.collection(name)
        if not self.connection.pinned or collection.read_preference == ReadPreference.PRIMARY:
            return collection
        return collection.with_options(read_preference=ReadPreference.PRIMARY)

    def _cursor(self, command: FindCommand) -> Any:
        return self.reads(command.collection).find(
            command.filter,
            command.projection,
            sort=command.sort,
            skip=command.skip,
            limit=command.limit,
            batch_size=command.batch_size,
            **self.connection.session_args(),
        )

    # -- reads ------------------------------------------------------------------------

    def find(self, command: FindCommand, build: Callable[[Any], Any] | None = None) -> list[Any]:
        """Every document ``command`` finds (each passed through ``build`` when given), read before returning."""
        with self.connection.guard():
            cursor = self._cursor(command)
            return list(cursor if build is None else map(build, cursor))

    def stream(self, command: FindCommand, build: Callable[[Any], Any] | None = None) -> Iterator[Any]:
        """The documents ``command`` finds (through ``build`` when given), read batch by batch as consumed.

        Nothing is sent before the first document is asked for; closing the
        iterator closes the server cursor.
        """
        with self.connection.guard():
            cursor = self._cursor(command)
            try:
                yield from (cursor if build is None else map(build, cursor))
            finally:
                cursor.close()

    def count(self, command: CountCommand) -> int:
        options = {"limit": command.limit} if command.limit else {}
        with self.connection.guard():
            return self.reads(command.collection).count_documents(
                command.filter, **options, **self.connection.session_args()
            )

    # -- writes -----------------------------------------------------------------------

    def insert_one(self, command: InsertCommand) -> None:
        [document] = command.documents
        with self.connection.guard(write=True):
            self.collection(command.collection).insert_one(document, **self.connection.session_args())

    def insert_many(self, command: InsertCommand) -> None:
        """Raises pymongo's ``BulkWriteError`` (which rows failed) when some documents are refused."""
        with self.connection.guard(write=True):
            self.collection(command.collection).insert_many(
                command.documents, ordered=False, **self.connection.session_args()
            )

    def bulk_write(self, command: BulkWriteCommand) -> dict[str, Any]:
        """The counts of the bulk write; raises pymongo's ``BulkWriteError`` when some requests fail."""
        with self.connection.guard(write=True):
            result = self.collection(command.collection).bulk_write(
                command.requests, ordered=False, **self.connection.session_args()
            )
            return result.bulk_api_result

    def update_one(self, command: UpdateCommand) -> Any:
        """pymongo's ``UpdateResult``."""
        with self.connection.guard(write=True):
            return self.collection(command.collection).update_one(
                command.filter, command.update, upsert=command.upsert, **self.connection.session_args()
            )

    def update_many(self, command: UpdateCommand) -> int:
        """How many documents matched."""
        with self.connection.guard(write=True):
            return (
                self.collection(command.collection)
                .update_many(command.filter, command.update, **self.connection.session_args())
                .matched_count
            )

    def find_one_and_update(self, command: UpdateCommand) -> dict[str, Any] | None:
        """The updated document as it is after the update, or ``None`` when none matched."""
        with self.connection.guard(write=True):
            return self.collection(command.collection).find_one_and_update(
                command.filter,
                command.update,
                return_document=ReturnDocument.AFTER,
                **self.connection.session_args(),
            )

    def delete_many(self, command: DeleteCommand) -> int:
        """How many documents were deleted."""
        with self.connection.guard(write=True):
            return (
                self.collection(command.collection)
                .delete_many(command.filter, **self.connection.session_args())
                .deleted_count
            )
