"""The :class:`Pagination` value object and the keyset cursor format.

A cursor is an opaque, URL-safe string carrying the sort values of the row it
continues from, the direction, the page number it leads to, and a fingerprint
of the model and ordering it belongs to, with a checksum. Decoding anything
else -- tampered, truncated, or made for another query -- raises ``ValueError``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import decimal
import hashlib
import json
import math
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .values import check_datetime

__all__ = ["Pagination", "Cursor", "encode_cursor", "decode_cursor", "order_fingerprint", "register_cursor_type"]

T = TypeVar("T")

_CHECKSUM_KEY = b"db_plugins.cursor.v1"
_CHECKSUM_SIZE = 8
#: The longest cursor :func:`decode_cursor` accepts.
MAX_CURSOR = 65536


@dataclass(frozen=True)
class Cursor:
    """A decoded cursor: continue ``forward`` (or backward) from ``values``, landing on ``page``."""

    values: tuple[Any, ...]
    forward: bool
    page: int


def order_fingerprint(model: str, order: Sequence[tuple[str, bool]]) -> str:
    """A short digest naming the query a cursor belongs to."""
    text = model + "|" + ",".join(("-" if d else "") + f for f, d in order)
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


# Value types a plugin adds (Mongo's ObjectId): type -> tag, and tag -> the type's constructor from text.
_PLUGIN_TYPES: dict[type, str] = {}
_PLUGIN_TAGS: dict[str, Any] = {}


def register_cursor_type(cls: type, tag: str) -> None:
    """Let cursors hold values of ``cls`` (a plugin's own key type), as ``str(value)`` read back by ``cls(text)``."""
    _PLUGIN_TYPES[cls] = tag
    _PLUGIN_TAGS[tag] = cls


def _encode_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return {"f": repr(value)}  # keeps nan/inf and exact round trips out of JSON's way
    if isinstance(value, _dt.datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, _dt.date):
        return {"d": value.isoformat()}
    if isinstance(value, _dt.time):
        return {"t": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"dec": str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"b": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, uuid.UUID):
        return {"u": str(value)}
    tag = _PLUGIN_TYPES.get(type(value))
    if tag is not None:
        return {tag: str(value)}
    raise TypeError(f"cannot put a {type(value).__name__} in a cursor")


def _decode_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError("bad value")
    ((tag, text),) = value.items()
    if not isinstance(text, str):
        raise ValueError("bad value")
    if tag == "f":
        return float(text)
    if tag == "dt":  # the instant, in naive UTC as filter operands are (refused outside years 1..9999)
        return check_datetime(_dt.datetime.fromisoformat(text))
    if tag == "d":
        return _dt.date.fromisoformat(text)
    if tag == "t":
        return _dt.time.fromisoformat(text)
    if tag == "dec":
        return decimal.Decimal(text)
    if tag == "b":
        return base64.b64decode(text, validate=True)
    if tag == "u":
        return uuid.UUID(text)
    if tag in _PLUGIN_TAGS:
        return _PLUGIN_TAGS[tag](text)
    raise ValueError("bad tag")


def encode_cursor(fingerprint: str, cursor: Cursor) -> str:
    """Encode ``cursor`` for the query named by ``fingerprint``."""
    body = json.dumps(
        [fingerprint, 1 if cursor.forward else 0, cursor.page, [_encode_value(v) for v in cursor.values]],
        separators=(",", ":"),
    ).encode()
    digest = hashlib.blake2b(body, key=_CHECKSUM_KEY, digest_size=_CHECKSUM_SIZE).digest()
    return base64.urlsafe_b64encode(body + digest).rstrip(b"=").decode()


def decode_cursor(fingerprint: str, text: Any, size: int) -> Cursor:
    """Decode a cursor made by :func:`encode_cursor` for the same query, with ``size`` sort values."""
    if not isinstance(text, str) or not text:
        raise ValueError("invalid cursor: expected a string from Pagination.next_cursor")
    if len(text) > MAX_CURSOR:
        # Decoding cost grows with the size: a cursor over huge sort values is refused, not parsed.
        raise ValueError(f"invalid cursor: longer than {MAX_CURSOR} characters (are the sort values that large?)")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("invalid cursor: not a cursor string") from None
    body, digest = raw[:-_CHECKSUM_SIZE], raw[-_CHECKSUM_SIZE:]
    expected = hashlib.blake2b(body, key=_CHECKSUM_KEY, digest_size=_CHECKSUM_SIZE).digest()
    if len(raw) <= _CHECKSUM_SIZE or digest != expected:
        raise ValueError("invalid cursor: damaged or tampered with")
    try:
        owner, forward, page, values = json.loads(body)
    except (ValueError, TypeError):
        raise ValueError("invalid cursor: damaged or tampered with") from None
    if owner != fingerprint:
        raise ValueError("invalid cursor: it belongs to another model or ordering")
    if not isinstance(values, list) or len(values) != size or forward not in (0, 1):
        raise ValueError("invalid cursor: damaged or tampered with")
    if not isinstance(page, int) or isinstance(page, bool) or page < 1:
        raise ValueError("invalid cursor: damaged or tampered with")
    try:
        decoded = tuple(_decode_value(v) for v in values)
    except (ValueError, TypeError, ArithmeticError, ImportError):
        raise ValueError("invalid cursor: damaged or tampered with") from None
    return Cursor(decoded, bool(forward), page)


class Pagination(Generic[T]):
    """One page of results, in the manner of Flask-SQLAlchemy's ``Pagination``.

    ``total`` and ``pages`` are ``None`` when the page was fetched with
    ``count=False``; ``has_next`` is right either way (one extra row is read).
    With ``max_results`` the count stops at that number and ``total_capped``
    tells whether it did. ``next_cursor`` (and ``prev_cursor``) continue the
    walk by keyset: ``query.paginate(after=page.next_cursor)``.
    """

    def __init__(
        self,
        items: list[T],
        page: int,
        per_page: int,
        total: int | None,
        *,
        has_next: bool,
        has_prev: bool | None = None,
        total_capped: bool = False,
        next_cursor: str | None = None,
        prev_cursor: str | None = None,
        fetch: Callable[..., Pagination[T]] | None = None,
    ) -> None:
        self.items = items
        self.page = page
        self.per_page = per_page
        self.total = total
        self.total_capped = total_capped
        self.has_next = has_next
        self.has_prev = page > 1 if has_prev is None else has_prev
        self.next_cursor = next_cursor
        self.prev_cursor = prev_cursor
        self._fetch = fetch

    @property
    def pages(self) -> int | None:
        """The number of pages, or ``None`` when ``total`` is unknown."""
        if self.total is None:
            return None
        return math.ceil(self.total / self.per_page) if self.total else 0

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    def next(self) -> Pagination[T]:
        """The next page, fetched with the same filter, ordering and options."""
        if not self.has_next or self._fetch is None:
            raise ValueError("there is no next page")
        return self._fetch(page=self.page + 1, cursor=self.next_cursor)

    def prev(self) -> Pagination[T]:
        """The previous page, fetched with the same filter, ordering and options."""
        if not self.has_prev or self._fetch is None:
            raise ValueError("there is no previous page")
        return self._fetch(page=self.page - 1, cursor=self.prev_cursor)

    def iter_pages(
        self, *, left_edge: int = 2, left_current: int = 2, right_current: int = 4, right_edge: int = 2
    ) -> Iterator[int | None]:
        """Page numbers for a pagination widget, with ``None`` where numbers are skipped.

        When ``total`` is unknown the last page known to exist is the next one.
        """
        last = self.pages if self.pages is not None else (self.page + 1 if self.has_next else self.page)
        if last <= 0:
            return
        left_end = min(1 + left_edge, last + 1)
        yield from range(1, left_end)
        if left_end > last:
            return
        mid_start = max(left_end, self.page - left_current)
        mid_end = min(self.page + right_current + 1, last + 1)
        if mid_start - left_end > 0:
            yield None
        yield from range(mid_start, mid_end)
        if mid_end > last:
            return
        right_start = max(mid_end, last - right_edge + 1)
        if right_start - mid_end > 0:
            yield None
        yield from range(right_start, last + 1)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return (
            f"<Pagination page={self.page} per_page={self.per_page} items={len(self.items)} "
            f"total={self.total} has_next={self.has_next}>"
        )
