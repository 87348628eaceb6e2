"""paginate: counts, caps, has_next without counting, argument checks, keyset cursors."""

from __future__ import annotations

import pytest


def seed(env, n):
    env.q("Item").bulk_insert([{"oid": f"P{i:03d}", "mag": float(i % 7), "n": i} for i in range(n)])


def test_empty_table(env):
    page = env.q("Item").paginate()
    assert page.items == [] and page.total == 0 and page.pages == 0
    assert page.has_next is False and page.has_prev is False
    assert page.next_num is None and page.prev_num is None
    assert page.next_cursor is None
    assert list(page.iter_pages()) == []


def test_exact_multiple_of_per_page(env):
    seed(env, 20)
    last = env.q("Item").paginate(page=2, per_page=10)
    assert [i.n for i in last] == list(range(10, 20))
    assert (last.total, last.pages, last.has_next, last.has_prev) == (20, 2, False, True)
    assert env.q("Item").paginate(page=3, per_page=10).items == []


def test_partial_last_page(env):
    seed(env, 23)
    q = env.q("Item")
    first = q.paginate(per_page=10)
    assert (first.total, first.pages, first.has_next, first.next_num) == (23, 3, True, 2)
    last = first.next().next()
    assert [i.n for i in last] == [20, 21, 22]
    assert last.has_next is False and last.prev_num == 2
    assert [i.n for i in last.prev()] == list(range(10, 20))
    assert list(first.iter_pages()) == [1, 2, 3]


def test_count_false_still_knows_has_next(env):
    seed(env, 20)
    q = env.q("Item")
    page = q.paginate(page=1, per_page=10, count=False)
    assert page.total is None and page.pages is None
    assert page.has_next is True and len(page.items) == 10
    page = q.paginate(page=2, per_page=10, count=False)
    assert page.has_next is False and len(page.items) == 10
    page = q.paginate(page=2, per_page=7, count=False, filter_by={"n": {"$lt": 14}})
    assert page.has_next is False and [i.n for i in page] == list(range(7, 14))


def test_max_results_caps_the_count(env):
    seed(env, 30)
    q = env.q("Item")
    page = q.paginate(per_page=10, max_results=25)
    assert page.total == 25 and page.total_capped is True and page.pages == 3
    page = q.paginate(per_page=10, max_results=100)
    assert page.total == 30 and page.total_capped is False
    page = q.paginate(per_page=10, max_results=30)
    assert page.total == 30 and page.total_capped is True


@pytest.mark.parametrize("argument", [{"page": 0}, {"per_page": 0}, {"page": -1}, {"per_page": "10"}])
def test_bad_page_arguments(env, argument):
    name = next(iter(argument))
    with pytest.raises(ValueError, match=name):
        env.q("Item").paginate(**argument)


def test_filter_and_order(env):
    seed(env, 30)
    page = env.q("Item").paginate(per_page=4, filter_by={"mag": {"$in": [1.0, 2.0]}}, order_by=["-mag", "n"])
    assert [(i.mag, i.n) for i in page] == [(2.0, 2), (2.0, 9), (2.0, 16), (2.0, 23)]
    assert page.total == 9


def test_keyset_walk_matches_offset_walk(env):
    seed(env, 47)
    q = env.q("Item")
    order = ["-mag", "n"]
    expected = [i.oid for i in q.find_all(order_by=order, paginate=False)]
    seen, cursor, pages = [], None, 0
    while True:
        page = q.paginate(per_page=10, order_by=order, after=cursor, count=False)
        seen += [i.oid for i in page]
        pages += 1
        assert page.page == pages
        if not page.has_next:
            break
        cursor = page.next_cursor
    assert seen == expected and pages == 5


def test_keyset_prev_cursor_goes_back(env):
    seed(env, 25)
    q = env.q("Item")
    first = q.paginate(per_page=10)
    second = q.paginate(per_page=10, after=first.next_cursor)
    back = q.paginate(per_page=10, after=second.prev_cursor)
    assert [i.oid for i in back] == [i.oid for i in first]
    assert back.page == 1 and back.has_prev is False and back.has_next is True


def _flip(cursor):
    return cursor[:5] + ("A" if cursor[5] != "A" else "B") + cursor[6:]


@pytest.mark.parametrize("mangle", [lambda c: c[:-3], _flip, lambda c: "x"], ids=["truncated", "flipped", "junk"])
def test_tampered_cursor_raises_value_error(env, mangle):
    seed(env, 15)
    cursor = env.q("Item").paginate(per_page=5).next_cursor
    with pytest.raises(ValueError, match="cursor"):
        env.q("Item").paginate(per_page=5, after=mangle(cursor))


def test_foreign_cursor_raises_value_error(env):
    seed(env, 15)
    cursor = env.q("Item").paginate(per_page=5, order_by="mag").next_cursor
    with pytest.raises(ValueError, match="another"):
        env.q("Item").paginate(per_page=5, order_by="n", after=cursor)


@pytest.mark.parametrize("order_by", [["n"], ["-mag", "n"], ["mag", "-n"]])
def test_keyset_walk_while_rows_come_and_go(env, order_by):
    """Every row present for the whole walk is seen exactly once, in order, whatever happens between pages."""
    q = env.q("Item")
    q.bulk_insert([{"oid": f"W{i:03d}", "n": i, "mag": None if i % 5 == 0 else float(i % 4)} for i in range(60)])
    deleted, inserted, seen, cursor = set(), [], [], None
    step = 0
    while True:
        page = q.paginate(per_page=7, order_by=order_by, after=cursor, count=False)
        seen += [(i.oid, i.mag, i.n) for i in page]
        if not page.has_next:
            break
        cursor = page.next_cursor
        step += 1
        # Delete one row already seen and one not yet seen; insert rows on both sides of the cursor.
        for victim in (f"W{(step * 7) % 60:03d}", f"W{(step * 11 + 30) % 60:03d}"):
            if q.delete({"oid": victim}):
                deleted.add(victim)
        for k in range(2):
            oid = f"N{step:02d}{k}"
            q.insert({"oid": oid, "n": 100 + step * 2 + k if k else -step, "mag": float(k * 3)})
            inserted.append(oid)
    oids = [oid for oid, _, _ in seen]
    assert len(oids) == len(set(oids)), "a row was returned twice"
    expected = [i.oid for i in q.find_all(order_by=order_by, paginate=False)]
    positions = {oid: index for index, oid in enumerate(expected)}
    kept = [oid for oid in oids if oid in positions]
    assert kept == sorted(kept, key=positions.__getitem__), "rows out of order"
    survivors = {f"W{i:03d}" for i in range(60)} - deleted
    assert survivors <= set(oids), "a row present throughout was skipped"
