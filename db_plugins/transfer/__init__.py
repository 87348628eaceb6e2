"""Streaming dump and load between tables (or collections) and files: CSV, JSON Lines, Parquet.

Dumping reads ``query.find_all(..., paginate=False)`` in batches and writes
each batch as it comes; loading reads the file a chunk at a time, converts
each value to the target field's type and writes the chunk with
``query.bulk_insert`` (so every engine uses its fastest bulk path, COPY on
PostgreSQL). Memory stays flat whatever the size::

    from db_plugins import connect, transfer
    from examples.models import Object

    with connect("sqlite:///broker.db") as db:
        transfer.dump(db.query(Object), "objects.jsonl", filter_by={"ndet": {"$gte": 1}})
        report = transfer.load(db.query(Object), "objects.jsonl", on_conflict="update")

``dbp dump`` / ``dbp load`` (:func:`db_plugins.commands.dump`,
:func:`db_plugins.commands.load`) find the table by name in the settings.
How values and NULLs are written is described in
:mod:`db_plugins.transfer.formats` and :mod:`db_plugins.transfer.values`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..db.generic import BaseQuery, batched, check_on_conflict
from ..errors import BulkWriteError, DBPluginsError, DuplicateKeyError, FilterError, ValidationError
from ..filters import FieldInfo
from ..progress import bar
from .formats import (
    FORMATS,
    STDIO,
    MalformedRecord,
    Reader,
    TransferError,
    detect_format,
    open_input,
    open_output,
)
from .tables import ModelTable, Table, TransferAdapter, open_table
from .values import ConversionError, convert

__all__ = [
    "BATCH_SIZE",
    "FORMATS",
    "LoadReport",
    "ModelTable",
    "Table",
    "TransferAdapter",
    "TransferError",
    "dump",
    "load",
    "open_table",
    "shown",
]

#: Rows per batch read from the database, and per chunk written by a load.
BATCH_SIZE = 5000


@dataclass
class LoadReport:
    """What a load did: records read from the file, rows written, and the difference."""

    read: int = 0
    written: int = 0

    @property
    def skipped(self) -> int:
        """Rows not written: existing keys with ``"ignore"``, keys repeated in a chunk with ``"update"``."""
        return self.read - self.written

    def __str__(self) -> str:
        return f"{self.read} read, {self.written} written, {self.skipped} skipped"


def _as_table(source: BaseQuery | Table) -> Table:
    return source if isinstance(source, Table) else ModelTable(source)


def _filter(filter_by: Any) -> Any:
    """``filter_by`` as a dict: JSON text (``dbp dump --filter``) is parsed here."""
    if isinstance(filter_by, (str, bytes)):
        try:
            return json.loads(filter_by)
        except ValueError as exc:
            raise FilterError(f"filter_by: invalid JSON ({exc})") from None
    return filter_by


def shown(path: Any, stdio: str = "<stdout>") -> str:
    """``path`` as messages show it (``stdio`` for ``-``)."""
    text = os.fspath(path)
    return stdio if text == STDIO else text


def dump(
    source: BaseQuery | Table,
    output: str | os.PathLike[str],
    *,
    filter_by: Any = None,
    order_by: Any = None,
    file_format: str | None = None,
    batch_size: int = BATCH_SIZE,
    progress: bool = False,
) -> int:
    """Write the rows of ``source`` matching ``filter_by`` to ``output``; return how many.

    ``source`` is a query (``db.query(Model)``) or a :class:`Table`;
    ``output`` a path (the format from its extension unless ``file_format``
    is given) or ``"-"`` for standard output. A file appears only when the
    dump succeeds. ``filter_by`` may be a dict or its JSON text.
    """
    table = _as_table(source)
    fmt, compressed = _format(output, file_format)
    filter_by = _filter(filter_by)
    rows = table.rows(filter_by, order_by, batch_size)  # checks the filter before any file exists
    total = table.count(filter_by) if progress else None
    written = 0
    with (
        open_output(output, compressed) as stream,
        bar(f"dumping {table.name}", total, enabled=progress, unit="row") as step,
    ):
        writer = fmt.writer(stream, table.fields)
        try:
            for batch in batched(rows, batch_size):
                writer.write(batch)
                written += len(batch)
                step(len(batch))
            writer.close()
        except BaseException as exc:
            with contextlib.suppress(Exception):
                writer.close()  # release standard output; a file is removed anyway
            # A value no format can hold (a BSON regex, an int too large for Parquet): one clear line.
            if isinstance(exc, (TypeError, ValueError)) and not isinstance(exc, DBPluginsError):
                raise TransferError(f"{shown(output)}: {exc}") from None
            raise
    return written


def load(
    target: BaseQuery | Table,
    file: str | os.PathLike[str],
    *,
    on_conflict: str = "error",
    conflict_on: str | Sequence[str] | None = None,
    file_format: str | None = None,
    batch_size: int = BATCH_SIZE,
    atomic: bool = False,
    progress: bool = False,
    echo: Callable[[str], None] | None = None,
) -> LoadReport:
    """Read ``file`` into ``target`` a chunk at a time; return a :class:`LoadReport`.

    Each chunk of ``batch_size`` records is converted to the target's field
    types and written by one ``bulk_insert(on_conflict=..., conflict_on=...)``
    (``conflict_on``: the unique key deciding which rows exist), which on SQL
    engines is one transaction: a chunk is written whole or not at all, and
    chunks before it stay written. ``atomic=True`` runs the whole load in one
    transaction (engines with transactions only). A malformed record or a
    value that does not fit raises :class:`TransferError` naming its line
    before its chunk is written; on any error ``echo`` (if given) is told
    what had been written.
    """
    check_on_conflict(on_conflict)
    table = _as_table(target)
    fmt, compressed = _format(file, file_format)
    report = LoadReport()
    name = shown(file, "<stdin>")
    duplicate: tuple[DuplicateKeyError, list[dict[str, Any]]] | None = None
    chunks: _Chunks | None = None
    try:
        with contextlib.ExitStack() as stack:
            stream = stack.enter_context(open_input(file, compressed))
            size = os.path.getsize(file) if os.fspath(file) != STDIO else None
            # Progress in bytes of the file on disk (compressed bytes for .gz).
            raw = getattr(stream, "fileobj", stream)
            step = stack.enter_context(bar(f"loading {name}", size, enabled=progress, unit="B", unit_scale=True))
            if atomic:
                stack.enter_context(table.transaction())
            reader = _reader(fmt.reader, stream, batch_size, name)
            stack.callback(reader.close)
            chunks = _Chunks(reader, table, name)
            done = 0
            try:
                for chunk in chunks.read(batch_size):
                    report.read += len(chunk)
                    try:
                        report.written += table.write(chunk, on_conflict, conflict_on)
                    except ValidationError as exc:
                        error = chunks.row_error(exc)
                        if error is exc:
                            raise
                        raise error from exc
                    except DuplicateKeyError as exc:
                        if isinstance(exc, BulkWriteError):  # an engine without transactions kept the others
                            report.written += exc.written
                        duplicate = (exc, chunk)
                        raise
                    chunks.first = None
                    if size:
                        position = raw.tell()
                        step(position - done)
                        done = position
            except Exception:
                if echo is not None:
                    partial = duplicate[0].written if duplicate and isinstance(duplicate[0], BulkWriteError) else 0
                    echo(_failure(table.name, report, chunks.first, reader.unit, atomic, partial))
                raise
    except DuplicateKeyError as exc:
        # Named once the transaction (--atomic) is over, so the lookup of stored keys can run.
        if duplicate is None or duplicate[0] is not exc or chunks is None:
            raise
        raise chunks.duplicate_error(exc, duplicate[1], conflict_on) from exc
    return report


def _failure(name: str, report: LoadReport, first: int | None, unit: str, atomic: bool, partial: int = 0) -> str:
    """What a failed load had written, for the user to resume from (``partial``: rows of the failed chunk)."""
    if atomic or not report.written:
        return f"{name}: nothing written"
    where = f"; nothing from {unit} {first} on" if first is not None else ""
    if partial and first is not None:  # no transaction undid the rest of the chunk
        where = f", {partial} of them from the chunk at {unit} {first} on (all but the rows the error names)"
    return f"{name}: {report.written} rows written before the error{where}"


def _format(path: Any, file_format: str | None) -> tuple[Any, bool]:
    try:
        return detect_format(path, file_format)
    except ValueError as exc:
        raise TransferError(str(exc)) from None


def _reader(cls: type[Reader], stream: Any, batch_size: int, name: str) -> Reader:
    try:
        return cls(stream, batch_size)
    except MalformedRecord as exc:
        raise TransferError(f"{name} {cls.unit} {exc.position}: {exc.problem}") from None
    except (OSError, EOFError) as exc:
        raise TransferError(f"{name}: cannot read ({exc})") from None


class _Chunks:
    """Converted records in chunks; ``first`` is the line (row) number where the unwritten chunk starts."""

    def __init__(self, reader: Reader, table: Table, name: str) -> None:
        self.reader = reader
        self.table = table
        self.name = name
        self.fields = {f.name: f for f in table.fields}
        self.first: int | None = None
        self.positions: list[int] = []  # the line (row) number of each record of the chunk
        if reader.columns is not None:
            _check_columns(reader.columns, self.fields, table.name, name)

    def _where(self, position: int) -> str:
        return f"{self.name} {self.reader.unit} {position}"

    def row_error(self, exc: ValidationError) -> ValidationError:
        """``exc`` (raised by writing the chunk) naming the line (row) of the record at fault, if one is."""
        row = exc.row
        if row is None or not 0 <= row < len(self.positions):
            return exc
        problem = str(exc)
        prefix = f"bulk_insert row {row}: "
        return TransferError(f"{self._where(self.positions[row])}: {problem.removeprefix(prefix)}")

    def duplicate_error(
        self, exc: DuplicateKeyError, chunk: list[dict[str, Any]], conflict_on: str | Sequence[str] | None
    ) -> DuplicateKeyError:
        """``exc`` naming the line (row) and the key of the first record of ``chunk`` that has a stored key.

        Only a failed load pays for this: the chunk's keys are compared with each
        other, then with the keys the engine reported or the table holds.
        """
        fields = [conflict_on] if isinstance(conflict_on, str) else list(conflict_on or self.table.key)
        keys = [tuple(row.get(f) for f in fields) for row in chunk] if fields else []
        if not fields or any(f not in row for row in chunk for f in fields):
            first, last = self.positions[0], self.positions[-1]
            return DuplicateKeyError(f"{self.name} {self.reader.unit}s {first}-{last}: {exc}")
        seen: dict[Any, int] = {}
        for i, key in enumerate(keys):
            marker = _hashable(key)
            if marker in seen:
                return self._duplicate(fields, key, i, f"as on {self.reader.unit} {self.positions[seen[marker]]}")
            seen[marker] = i
        try:
            stored = self._stored(fields, keys, exc)
        except DBPluginsError:  # the database cannot be asked now: the chunk's lines, then
            stored = set()
        for i, key in enumerate(keys):
            if _hashable(key) in stored:
                return self._duplicate(fields, key, i, f"already in {self.table.name}")
        first, last = self.positions[0], self.positions[-1]
        return DuplicateKeyError(f"{self.name} {self.reader.unit}s {first}-{last}: {exc}")

    def _duplicate(self, fields: list[str], key: tuple[Any, ...], i: int, why: str) -> DuplicateKeyError:
        shown = ", ".join(f"{f}={v!r}" for f, v in zip(fields, key))
        return DuplicateKeyError(f"{self._where(self.positions[i])}: duplicate key {shown} ({why})")

    def _stored(self, fields: list[str], keys: list[tuple[Any, ...]], exc: DuplicateKeyError) -> set[Any]:
        """The keys among ``keys`` already stored (the engine's word for it when it gave the failed keys)."""
        if isinstance(exc, BulkWriteError) and exc.failed_keys:
            failed = [k if isinstance(k, tuple) else (k,) for k in exc.failed_keys]
            return {_hashable(k) for k in failed}
        stored: set[Any] = set()
        for part in batched(keys, 500):
            if len(fields) == 1:
                filter_by = {fields[0]: {"$in": [k[0] for k in part]}}
            else:
                filter_by = {"$or": [dict(zip(fields, k)) for k in part]}
            for row in self.table.rows(filter_by, None, 500):
                stored.add(_hashable(tuple(row.get(f) for f in fields)))
        return stored

    def _records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        records = self.reader.records()
        position = 0
        while True:
            try:
                item = next(records, None)
            except MalformedRecord as exc:
                raise TransferError(f"{self._where(exc.position)}: {exc.problem}") from None
            except (OSError, EOFError) as exc:  # a truncated or corrupt .gz, a failing disk
                raise TransferError(f"{self.name}: cannot read after {self.reader.unit} {position} ({exc})") from None
            if item is None:
                return
            position = item[0]
            yield item

    def read(self, batch_size: int) -> Iterator[list[dict[str, Any]]]:
        fields, text, check = self.fields, self.reader.text, self.reader.columns is None
        chunk: list[dict[str, Any]] = []
        for position, record in self._records():
            if not chunk:
                self.first = position
                self.positions = []
            self.positions.append(position)
            if check:
                _check_columns(record, fields, self.table.name, self._where(position))
            row = {}
            for column, value in record.items():
                try:
                    row[column] = convert(fields[column], value, text=text)
                except ConversionError as exc:
                    raise TransferError(f"{self._where(position)}, column {column!r}: {exc}") from None
            chunk.append(row)
            if len(chunk) >= batch_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def _hashable(key: tuple[Any, ...]) -> Any:
    try:
        hash(key)
    except TypeError:
        return repr(key)
    return key


def _check_columns(columns: Iterable[str], fields: Mapping[str, FieldInfo], table: str, where: str) -> None:
    for column in columns:
        if column not in fields:
            known = ", ".join(fields)
            raise TransferError(f"{where}: column {column!r} is not a field of {table} (fields: {known})")
