"""Filter trees and orderings compiled to SQLAlchemy expressions.

The MongoDB semantics of :mod:`db_plugins.filters` are spelled out here in SQL
(``$ne`` keeps NULLs, strings compare in code-point order, NULLs sort low);
what differs between engines comes from the dialect's features (flags) and operations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.expression import ColumnElement

from ...errors import FilterError
from ...filters import And, Compare, FieldInfo, Node, Or, exact_compare, refused_float
from .dialects.base import SQLOperations

__all__ = ["SQLCompiler"]

_RANGE = {
    "gt": lambda c, v: c > v,
    "gte": lambda c, v: c >= v,
    "lt": lambda c, v: c < v,
    "lte": lambda c, v: c <= v,
}


def filtered(statement: Any, where: ColumnElement[bool]) -> Any:
    """``statement.where(where)``, or ``statement`` itself when ``where`` matches every row.

    SQLite counts (and deletes) a whole table from its smallest index only
    without a WHERE: ``WHERE 1 = 1`` makes it read every row, 3-4x slower.
    """
    return statement if isinstance(where, sa.sql.elements.True_) else statement.where(where)


class SQLCompiler:
    """Compiles filter trees and orderings for one model on one engine."""

    def __init__(self, columns: Mapping[str, ColumnElement], schema: Mapping[str, FieldInfo], ops: SQLOperations):
        self.columns = columns
        self.schema = schema
        self.ops = ops
        self.features = ops.features

    def compile(self, node: Node) -> ColumnElement[bool]:
        if isinstance(node, Compare):
            return self._compare(node)
        parts = [self.compile(child) for child in node.clauses]
        if isinstance(node, And) and not parts:
            return sa.true()  # see filtered(): no WHERE at all
        if isinstance(node, And):
            return sa.and_(sa.true(), *parts) if len(parts) != 1 else parts[0]
        if isinstance(node, Or):
            return sa.or_(sa.false(), *parts) if len(parts) != 1 else parts[0]
        raise TypeError(f"not a filter node: {node!r}")

    def _is_string(self, field: str) -> bool:
        return self.schema[field].kind == "str"

    def equals(self, field: str, column: ColumnElement, value: Any) -> ColumnElement[bool]:
        """``column`` equals ``value`` (or a bound parameter), exactly, as the filter language means it."""
        if value is None:
            return column.is_(None)
        if self._is_string(field):
            return self.ops.string_equals(column, value)
        return column == value

    def _in(self, field: str, column: ColumnElement, values: Sequence[Any]) -> ColumnElement[bool]:
        if not values:
            return sa.false()
        clause = column.in_(values)
        if self._is_string(field) and not self.features.exact_string_equality:
            clause = sa.and_(clause, self.ops.binary_string(column).in_(values))
        return clause

    def _compare(self, node: Compare) -> ColumnElement[bool]:
        held = exact_compare(node, self.schema[node.field].kind)
        if held is not node:
            return self.compile(held)
        column = self.columns[node.field]
        op, value = node.op, node.value
        if not self.features.nul_in_strings and self._is_string(node.field):
            self._refuse_nul(node)
        if self.features.refused_floats:
            refused = refused_float(node, self.features.refused_floats)
            if refused:
                raise FilterError(f"filter_by[{node.field!r}]: {self.features.name} cannot compare with {refused}")
        if op == "eq":
            return self.equals(node.field, column, value)
        if op == "ne":
            if value is None:
                return column.is_not(None)
            return sa.or_(column.is_(None), sa.not_(self.equals(node.field, column, value)))
        if op == "exists":
            return column.is_not(None) if value else column.is_(None)
        if op in ("in", "nin"):
            present = [v for v in value if v is not None]
            has_null = len(present) != len(value)
            inside = self._in(node.field, column, present)
            if op == "in":
                return sa.or_(inside, column.is_(None)) if has_null else inside
            if has_null:
                return sa.and_(column.is_not(None), sa.not_(inside)) if present else column.is_not(None)
            return sa.or_(column.is_(None), sa.not_(inside)) if present else sa.true()
        target = self.ops.binary_string(column) if self._is_string(node.field) else column
        # A bound parameter: SQLAlchemy refuses `column > True` as a literal.
        return _RANGE[op](target, sa.bindparam(None, value, type_=column.type))

    def _refuse_nul(self, node: Compare) -> None:
        """A string with a NUL cannot be stored here, nor sent: the driver would refuse it mid-query."""
        values = node.value if isinstance(node.value, tuple) else (node.value,)
        if any(isinstance(v, str) and "\x00" in v for v in values):
            raise FilterError(
                f"filter_by[{node.field!r}]: a string holding a NUL (\\x00) character, "
                f"which {self.features.name} cannot store in text"
            )

    def order(self, order: Sequence[tuple[str, bool]]) -> list[ColumnElement]:
        """ORDER BY clauses: code-point strings, NULLs first ascending and last descending."""
        clauses = []
        for field, descending in order:
            column = self.columns[field]
            expr = self.ops.binary_string(column) if self._is_string(field) else column
            clause = expr.desc() if descending else expr.asc()
            # Only where it changes anything: a NULLS clause stops PostgreSQL
            # from reading the order off a plain index.
            if not self.features.nulls_sort_low and self.schema[field].nullable:
                clause = clause.nulls_last() if descending else clause.nulls_first()
            clauses.append(clause)
        return clauses
