"""The Pagination value object and the cursor format (no database)."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pytest

from db_plugins.pagination import Cursor, Pagination, decode_cursor, encode_cursor


def page(n, per_page=10, total=95, has_next=None):
    return Pagination(
        list(range(per_page)), n, per_page, total, has_next=n * per_page < total if has_next is None else has_next
    )


def test_properties():
    p = page(3)
    assert (p.pages, p.has_prev, p.has_next, p.prev_num, p.next_num) == (10, True, True, 2, 4)
    assert len(p) == 10 and list(p) == list(range(10))
    last = page(10)
    assert last.has_next is False and last.next_num is None
    assert Pagination([], 1, 10, None, has_next=False).pages is None


def test_iter_pages_like_flask_sqlalchemy():
    assert list(page(1).iter_pages()) == [1, 2, 3, 4, 5, None, 9, 10]
    assert list(page(6).iter_pages()) == [1, 2, None, 4, 5, 6, 7, 8, 9, 10]
    assert list(Pagination([], 1, 10, 0, has_next=False).iter_pages()) == []
    unknown = Pagination([1], 4, 10, None, has_next=True)
    assert list(unknown.iter_pages()) == [1, 2, 3, 4, 5]


def test_next_without_next_page():
    with pytest.raises(ValueError, match="no next page"):
        page(10).next()
    with pytest.raises(ValueError, match="no previous page"):
        page(1).prev()


VALUES = (
    None,
    True,
    3,
    2.5,
    float("-0.0"),
    "é😀",
    dt.datetime(2020, 1, 2, 3, 4, 5, 6),
    dt.date(2020, 1, 2),
    decimal.Decimal("1.10"),
    b"\x00\xff",
    uuid.UUID(int=5),
)


def test_cursor_round_trip_keeps_types():
    text = encode_cursor("abc", Cursor(VALUES, True, 3))
    assert text.replace("-", "").replace("_", "").isalnum()  # URL-safe
    back = decode_cursor("abc", text, len(VALUES))
    assert back == Cursor(VALUES, True, 3)
    assert [type(v) for v in back.values] == [type(v) for v in VALUES]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1],
        lambda t: t[:10],
        lambda t: "A" + t[1:],
        lambda t: t + "AA",
        lambda t: "",
        lambda t: "!!!!",
        lambda t: 42,
    ],
)
def test_damaged_cursors(mangle):
    text = encode_cursor("abc", Cursor((1, "x"), True, 2))
    with pytest.raises(ValueError, match="invalid cursor"):
        decode_cursor("abc", mangle(text), 2)


def test_foreign_cursor():
    text = encode_cursor("abc", Cursor((1,), True, 2))
    with pytest.raises(ValueError, match="another model or ordering"):
        decode_cursor("xyz", text, 1)
    with pytest.raises(ValueError, match="invalid cursor"):
        decode_cursor("abc", text, 2)
