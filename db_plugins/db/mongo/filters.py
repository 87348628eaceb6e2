"""Filter trees and orderings compiled to pymongo filter documents and sort lists.

The portable semantics of :mod:`db_plugins.filters` are MongoDB's own, so most
operators map one to one; the exceptions are spelled out here:

* ``$exists: true`` means present *and not null* -> ``{f: {"$ne": None}}``,
  ``$exists: false`` null or missing -> ``{f: None}``;
* an empty ``And`` matches every document (``{}``) and an empty ``Or`` none
  (``{"_id": {"$in": []}}``: MongoDB refuses an empty ``$or``);
* the primary key field is stored as ``_id``; dates and Decimals are stored as
  BSON datetimes and Decimal128, so filter values are converted the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...filters import And, Compare, Node, Or, Schema, exact_compare
from .models import ID, to_bson

__all__ = ["MongoCompiler", "MATCH_NOTHING"]

MATCH_NOTHING: dict[str, Any] = {ID: {"$in": []}}


class MongoCompiler:
    """Compiles filter trees and orderings for one model (field names -> stored names)."""

    def __init__(self, primary_key: str | None, schema: Schema | None = None) -> None:
        self.primary_key = primary_key
        self.schema = schema or {}

    def stored(self, field: str) -> str:
        """The document key holding ``field``."""
        return ID if field == self.primary_key else field

    def compile(self, node: Node) -> dict[str, Any]:
        if isinstance(node, Compare):
            return self._compare(node)
        parts = [self.compile(child) for child in node.clauses]
        if len(parts) == 1:
            return parts[0]
        if isinstance(node, And):
            return {"$and": parts} if parts else {}
        if isinstance(node, Or):
            return {"$or": parts} if parts else dict(MATCH_NOTHING)
        raise TypeError(f"not a filter node: {node!r}")

    def _compare(self, node: Compare) -> dict[str, Any]:
        info = self.schema.get(node.field)
        if info is not None:
            held = exact_compare(node, info.kind)
            if held is not node:
                return self.compile(held)
        name = self.stored(node.field)
        op, value = node.op, node.value
        if op == "exists":
            return {name: {"$ne": None}} if value else {name: None}
        if op in ("in", "nin"):
            return {name: {f"${op}": [to_bson(v) for v in value]}}
        if op == "eq" and value is None:
            return {name: None}
        return {name: {f"${op}": to_bson(value)}}

    def and_(self, left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
        if not left:
            return right
        if not right:
            return left
        return {"$and": [left, right]}

    def sort(self, order: Sequence[tuple[str, bool]]) -> list[tuple[str, int]]:
        """A pymongo sort list; MongoDB already sorts null and missing values lowest."""
        return [(self.stored(field), -1 if descending else 1) for field, descending in order]
