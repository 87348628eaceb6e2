"""File formats for ``dbp dump`` / ``dbp load``: CSV, JSON Lines and (with pyarrow) Parquet.

The format comes from the file name (``.csv``, ``.jsonl`` or ``.ndjson``,
``.parquet``; ``.csv.gz`` and ``.jsonl.gz`` are gzip-compressed) or is named
explicitly; ``-`` is standard output / input (JSON Lines unless named).

Writers take batches of rows (dicts keyed by field name) and readers yield
``(position, record)`` pairs, where the position is the line (CSV, JSON Lines)
or row (Parquet) number that an error message names.

NULL in CSV: Python's ``csv`` module cannot tell a quoted empty field from an
unquoted one, so CSV marks NULL with ``\\N`` (as PostgreSQL's and MySQL's text
dumps do) and an empty field is an empty string. A string that really is
``\\N`` is written ``\\\\N`` (one more backslash before the ``N``, and so on).
When loading, an empty field is also NULL for columns that are not strings
(files written by other tools). JSON Lines and Parquet have real nulls and
are exact.
"""

from __future__ import annotations

import abc
import csv
import gzip
import io
import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from ..errors import UnsupportedOperation, ValidationError
from ..filters import FieldInfo
from .values import to_json_line, to_text

__all__ = [
    "FORMATS",
    "NULL",
    "Format",
    "MalformedRecord",
    "TransferError",
    "detect_format",
    "open_input",
    "open_output",
]

NULL = "\\N"
STDIO = "-"
_ESCAPED_NULL = re.compile(r"\\+N")
_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


class TransferError(ValidationError):
    """A file that cannot be written or read: its format, a malformed record, a value that does not fit.

    The message names the file and, for a record, its line (or row) number and column.
    """


class MalformedRecord(ValueError):
    """A record the format cannot read; ``position`` is its line (or row) number."""

    def __init__(self, position: int, problem: str) -> None:
        super().__init__(problem)
        self.position = position
        self.problem = problem


class Writer(abc.ABC):
    """Writes batches of rows with a fixed list of fields to a binary stream."""

    def __init__(self, stream: IO[bytes], fields: Sequence[FieldInfo]) -> None:
        self.stream = stream
        self.fields = list(fields)
        self.names = [f.name for f in self.fields]

    @abc.abstractmethod
    def write(self, rows: Sequence[dict[str, Any]]) -> None: ...

    @abc.abstractmethod
    def close(self) -> None:
        """Flush what is buffered (the stream itself belongs to the caller)."""


class Reader(abc.ABC):
    """Reads records from a binary stream."""

    #: Values are textual encodings (see :func:`db_plugins.transfer.values.convert`).
    text: bool = True
    #: What a position is called in messages.
    unit: str = "line"

    def __init__(self, stream: IO[bytes], batch_size: int) -> None:
        self.stream = stream
        self.batch_size = batch_size

    #: The column names known before the first record (CSV's header), else ``None``.
    columns: list[str] | None = None

    @abc.abstractmethod
    def records(self) -> Iterator[tuple[int, dict[str, Any]]]: ...

    def close(self) -> None:  # noqa: B027 - most readers hold nothing of their own
        """Let go of the stream (which belongs to the caller)."""


class _TextWriter(Writer):
    def __init__(self, stream: IO[bytes], fields: Sequence[FieldInfo]) -> None:
        super().__init__(stream, fields)
        self.text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=False)  # type: ignore[arg-type]

    def close(self) -> None:
        self.text.flush()
        self.text.detach()  # leave the binary stream open for its owner


class CSVWriter(_TextWriter):
    def __init__(self, stream: IO[bytes], fields: Sequence[FieldInfo]) -> None:
        super().__init__(stream, fields)
        self.csv = csv.writer(self.text, lineterminator="\n")
        self.csv.writerow(self.names)

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        names = self.names
        self.csv.writerows([[_cell(row.get(name)) for name in names] for row in rows])


def _cell(value: Any) -> str:
    if value is None:
        return NULL
    text = to_text(value)
    if text[:1] == "\\" and _ESCAPED_NULL.fullmatch(text):
        return "\\" + text
    return text


def _uncell(text: str) -> str | None:
    if text[:1] == "\\" and _ESCAPED_NULL.fullmatch(text):
        return None if text == NULL else text[1:]
    return text


class CSVReader(Reader):
    def __init__(self, stream: IO[bytes], batch_size: int) -> None:
        super().__init__(stream, batch_size)
        self.text = io.TextIOWrapper(stream, encoding="utf-8", newline="")  # type: ignore[arg-type]
        self.csv = csv.reader(self.text)
        header = self._next(1)
        if header is None:
            raise MalformedRecord(1, "no header line (expected the column names)")
        if len(set(header)) != len(header):
            raise MalformedRecord(1, "a column is named twice in the header")
        self.columns = header

    def _next(self, position: int) -> list[str] | None:
        try:
            return next(self.csv)
        except StopIteration:
            return None
        except UnicodeDecodeError as exc:
            raise MalformedRecord(position, f"not UTF-8 text ({exc.reason})") from None
        except csv.Error as exc:
            raise MalformedRecord(position, f"invalid CSV ({exc})") from None

    def records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        assert self.columns is not None
        names, width = self.columns, len(self.columns)
        while True:
            position = self.csv.line_num + 1
            cells = self._next(position)
            if cells is None:
                return
            if not cells:
                continue  # a blank line
            if len(cells) != width:
                raise MalformedRecord(position, f"{len(cells)} fields, but the header has {width}")
            yield position, {name: _uncell(cell) for name, cell in zip(names, cells)}

    def close(self) -> None:
        self.text.detach()  # or the wrapper would close standard input when collected


class JSONLinesWriter(_TextWriter):
    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        names = self.names
        self.text.write("".join(to_json_line({n: row.get(n) for n in names}) + "\n" for row in rows))


class JSONLinesReader(Reader):
    text = False

    def records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for position, raw in enumerate(self.stream, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise MalformedRecord(position, f"not UTF-8 text ({exc.reason})") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise MalformedRecord(position, f"invalid JSON ({exc.msg} at column {exc.colno})") from None
            except ValueError as exc:  # a number too long to convert
                raise MalformedRecord(position, f"invalid JSON ({exc})") from None
            if not isinstance(record, dict):
                raise MalformedRecord(position, f"expected a JSON object, got {type(record).__name__}")
            yield position, record


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise UnsupportedOperation("Parquet files need pyarrow: pip install pyarrow") from None
    return pyarrow


class ParquetWriter(Writer):
    """Native Parquet types for typed fields; decimals, UUIDs and untyped values as their text."""

    def __init__(self, stream: IO[bytes], fields: Sequence[FieldInfo]) -> None:
        super().__init__(stream, fields)
        self.pa = _pyarrow()
        self.writer: Any = None

    def _type(self, kind: str, values: list[Any]) -> Any:
        pa = self.pa
        if kind == "datetime":
            # The first value says whether the column holds timezone-aware datetimes.
            first = next((v for v in values if v is not None), None)
            aware = first is not None and first.tzinfo is not None
            return pa.timestamp("us", tz="UTC" if aware else None)
        native = {
            "int": pa.int64(),
            "float": pa.float64(),
            "bool": pa.bool_(),
            "str": pa.string(),
            "date": pa.date32(),
            "time": pa.time64("us"),
            "bytes": pa.binary(),
        }
        return native.get(kind)

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        pa = self.pa
        columns = {f.name: [row.get(f.name) for row in rows] for f in self.fields}
        if self.writer is None:
            types = [self._type(f.kind, columns[f.name]) for f in self.fields]
            self.types = types
            self.schema = pa.schema([(f.name, t or pa.string()) for f, t in zip(self.fields, types)])
            self.writer = self.pa.parquet.ParquetWriter(self.stream, self.schema)
        arrays = []
        for field, kind_type, column_type in zip(self.fields, self.types, self.schema.types):
            values = columns[field.name]
            if kind_type is None:
                values = [None if v is None else to_text(v) for v in values]
            try:
                arrays.append(pa.array(values, type=column_type))
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
                raise ValueError(f"field {field.name!r}: cannot store in Parquet: {exc}") from None
        self.writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))

    def close(self) -> None:
        if self.writer is None:  # no rows: still a valid file with the columns
            self.write([])
        self.writer.close()


class ParquetReader(Reader):
    unit = "row"

    def __init__(self, stream: IO[bytes], batch_size: int) -> None:
        super().__init__(stream, batch_size)
        pa = _pyarrow()
        try:
            self.file = pa.parquet.ParquetFile(stream)
        except (pa.ArrowInvalid, OSError) as exc:
            raise MalformedRecord(1, f"not a Parquet file ({exc})") from None
        self.columns = list(self.file.schema_arrow.names)

    def records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        position = 0
        for batch in self.file.iter_batches(batch_size=self.batch_size):
            for record in batch.to_pylist():
                position += 1
                yield position, record


class Format:
    """A file format: its name and its writer and reader classes."""

    def __init__(self, name: str, writer: type[Writer], reader: type[Reader], binary: bool = False) -> None:
        self.name = name
        self.writer = writer
        self.reader = reader
        #: A binary container with its own compression and a footer (not streamable, no .gz).
        self.binary = binary

    def __repr__(self) -> str:
        return f"<Format {self.name}>"


FORMATS: dict[str, Format] = {
    "csv": Format("csv", CSVWriter, CSVReader),
    "jsonl": Format("jsonl", JSONLinesWriter, JSONLinesReader),
    "parquet": Format("parquet", ParquetWriter, ParquetReader, binary=True),
}


def detect_format(path: str | os.PathLike[str], name: str | None = None) -> tuple[Format, bool]:
    """The format of ``path`` (or the one named) and whether the file is gzip-compressed."""
    text = os.fspath(path)
    compressed = text.endswith(".gz")
    if name is not None:
        key = name.lower()
        if key == "ndjson":
            key = "jsonl"
        if key not in FORMATS:
            raise ValueError(f"unknown format {name!r} (expected one of: {', '.join(FORMATS)})")
    elif text == STDIO:
        key = "jsonl"
    else:
        suffix = Path(text[:-3] if compressed else text).suffix.lower()
        if suffix not in _SUFFIXES:
            known = ", ".join(sorted(_SUFFIXES))
            raise ValueError(f"{text}: cannot tell the format from the extension (expected {known}, or --format)")
        key = _SUFFIXES[suffix]
    fmt = FORMATS[key]
    if fmt.binary and (compressed or text == STDIO):
        where = "standard input/output" if text == STDIO else "a .gz file"
        raise ValueError(f"{text}: Parquet cannot be streamed through {where}; name a .parquet file")
    return fmt, compressed


def _open(path: str | os.PathLike[str], mode: str, shown: str) -> IO[bytes]:
    try:
        return open(path, mode)
    except OSError as exc:
        verb = "write" if "w" in mode else "read"
        raise TransferError(f"{shown}: cannot {verb} ({exc.strerror or exc})") from None


@contextmanager
def _gzip(raw: IO[bytes], compressed: bool, mode: str) -> Iterator[IO[bytes]]:
    if not compressed:
        yield raw
        return
    # No name or time in the header: dumping the same rows twice gives the same bytes.
    with gzip.GzipFile(fileobj=raw, mode=mode, filename="", mtime=0) as stream:
        yield stream  # type: ignore[misc]


@contextmanager
def open_output(path: str | os.PathLike[str], compressed: bool) -> Iterator[IO[bytes]]:
    """A binary stream to write ``path`` (``-``: standard output).

    A file is written under a temporary name and renamed into place only when
    the block succeeds, so a failed dump never leaves a truncated file behind.
    """
    text = os.fspath(path)
    if text == STDIO:
        stdout = sys.stdout.buffer
        yield stdout
        stdout.flush()
        return
    final = Path(text)
    partial = final.with_name(f".{final.name}.{os.getpid()}.partial")
    try:
        with _open(partial, "wb", text) as raw, _gzip(raw, compressed, "wb") as stream:
            yield stream
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)


@contextmanager
def open_input(path: str | os.PathLike[str], compressed: bool) -> Iterator[IO[bytes]]:
    """A binary stream reading ``path`` (``-``: standard input)."""
    text = os.fspath(path)
    if text == STDIO:
        yield sys.stdin.buffer
        return
    with _open(text, "rb", text) as raw, _gzip(raw, compressed, "rb") as stream:
        yield stream
