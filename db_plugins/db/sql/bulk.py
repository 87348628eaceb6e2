"""Bulk writes on SQL engines: the statements chosen by the dialect's features.

Every function here runs inside the caller's transaction, so a failure in any
batch leaves nothing written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from ...errors import IntegrityError
from ..generic import batched
from .features import SQLFeatures

__all__ = ["batched", "insert_rows", "update_rows"]

UPDATE_BATCH = 500
# MySQL warning codes that INSERT IGNORE may raise for the rows it skips.
_DUPLICATE_WARNINGS = {1062, 1586}


def insert_rows(
    connection: sa.Connection,
    table: sa.Table,
    names: Mapping[str, str],
    batches: Iterable[list[dict[str, Any]]],
    mode: str,
    features: SQLFeatures,
) -> int:
    """Insert every batch with ``on_conflict`` ``mode``; return the rows written.

    ``"ignore"`` keeps the first of rows sharing a key and counts only the rows
    inserted; ``"update"`` keeps the last and counts every row written.
    """
    keys = [c.key for c in table.primary_key.columns]
    rename = any(k != v for k, v in names.items())
    written = 0
    for batch in batches:
        rows = [{names[k]: v for k, v in row.items()} for row in batch] if rename else batch
        if mode != "error":
            rows = _dedupe(rows, keys, keep_last=mode == "update")
        for group in _same_columns(rows):
            written += _insert_group(connection, table, group, mode, features, keys)
    return written


def _dedupe(rows: list[dict[str, Any]], keys: Sequence[str], keep_last: bool) -> list[dict[str, Any]]:
    """One row per primary key, sorted by key so concurrent writers lock rows in the same order."""
    keyed: dict[tuple, dict[str, Any]] = {}
    loose = []
    for row in rows:
        key = tuple(row.get(k) for k in keys)
        if not keys or None in key:
            loose.append(row)
        elif keep_last or key not in keyed:
            keyed[key] = row
    try:
        ordered = [keyed[k] for k in sorted(keyed)]
    except TypeError:  # keys of mixed types: keep the input order
        ordered = list(keyed.values())
    return ordered + loose


def _same_columns(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Rows grouped by the set of columns they give (one statement per shape)."""
    groups: dict[frozenset, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    return iter(groups.values())


def _insert_group(
    connection: sa.Connection,
    table: sa.Table,
    rows: list[dict[str, Any]],
    mode: str,
    features: SQLFeatures,
    keys: Sequence[str],
) -> int:
    if mode == "error":
        connection.execute(features.insert(table), rows)
        return len(rows)
    columns = list(rows[0])
    others = [c for c in columns if c not in keys]
    if features.upsert == "on_conflict":
        stmt = features.insert(table)
        if mode == "ignore":
            stmt = stmt.on_conflict_do_nothing()
            if features.returning and keys:
                pk = [table.c[k] for k in keys]
                return len(connection.execute(stmt.returning(*pk), rows).all())
            return connection.execute(stmt, rows).rowcount
        if others:
            stmt = stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in others})
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=keys)
        connection.execute(stmt, rows)
        return len(rows)
    if features.upsert == "on_duplicate_key":
        if mode == "ignore":
            return _insert_ignore_mysql(connection, table, rows)
        stmt = features.insert(table)
        stmt = stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in (others or keys[:1])})
        connection.execute(stmt, rows)
        return len(rows)
    return _insert_portable(connection, table, rows, mode, keys, others)


def _insert_ignore_mysql(connection: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> int:
    # INSERT IGNORE also downgrades NOT NULL and conversion errors to warnings;
    # anything but a duplicate key among them makes the whole write fail.
    result = connection.execute(sa.insert(table).prefix_with("IGNORE").values(rows))
    inserted = result.rowcount
    for _level, code, message in connection.exec_driver_sql("SHOW WARNINGS").all():
        if int(code) not in _DUPLICATE_WARNINGS:
            raise IntegrityError(f"bulk_insert: {message}")
    return inserted


def _insert_portable(
    connection: sa.Connection,
    table: sa.Table,
    rows: list[dict[str, Any]],
    mode: str,
    keys: Sequence[str],
    others: Sequence[str],
) -> int:
    """Read which keys exist, then insert the others (and update these for ``"update"``)."""
    keyed = [r for r in rows if keys and None not in (r.get(k) for k in keys)]
    existing: set[tuple] = set()
    for chunk in batched(keyed, UPDATE_BATCH):
        match = sa.or_(*(sa.and_(*(table.c[k] == r[k] for k in keys)) for r in chunk))
        existing.update(tuple(row) for row in connection.execute(sa.select(*(table.c[k] for k in keys)).where(match)))
    fresh = [r for r in rows if tuple(r.get(k) for k in keys) not in existing]
    if fresh:
        connection.execute(sa.insert(table), fresh)
    if mode == "ignore" or not others:
        return len(fresh)
    stale = [r for r in rows if tuple(r.get(k) for k in keys) in existing]
    if stale:
        where = sa.and_(*(table.c[k] == sa.bindparam(f"_key_{k}") for k in keys))
        values = {c: sa.bindparam(f"_val_{c}") for c in others}
        params = [{**{f"_key_{k}": r[k] for k in keys}, **{f"_val_{c}": r[c] for c in others}} for r in stale]
        connection.execute(sa.update(table).where(where).values(values), params)
    return len(fresh) + len(stale)


def update_rows(
    connection: sa.Connection,
    table: sa.Table,
    columns: Mapping[str, sa.Column],
    plans: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]],
    features: SQLFeatures,
) -> int:
    """Apply ``(key, values)`` plans: one ``UPDATE ... SET c = CASE ...`` per batch of same-shaped plans."""
    groups: dict[frozenset, list[tuple[Mapping[str, Any], Mapping[str, Any]]]] = {}
    for key, values in plans:
        if values:
            groups.setdefault(frozenset(values), []).append((key, values))
    changed = 0
    for fields, items in groups.items():
        for chunk in batched(items, UPDATE_BATCH):
            conditions = [sa.and_(*(columns[k] == v for k, v in key.items())) for key, _ in chunk]
            assignments = {}
            for field in fields:
                column = columns[field]
                whens = [
                    (cond, _typed(values[field], column, features)) for cond, (_, values) in zip(conditions, chunk)
                ]
                assignments[column] = sa.case(*whens, else_=column)
            stmt = sa.update(table).where(sa.or_(*conditions)).values(assignments)
            changed += connection.execute(stmt).rowcount
    return changed


def _typed(value: Any, column: sa.Column, features: SQLFeatures) -> Any:
    param = sa.bindparam(None, value, type_=column.type)
    return sa.cast(param, column.type) if features.typed_case_values else param
