"""Writing a revision file: the ``upgrade``/``downgrade`` source for a list of changes.

The text is laid out as a formatter would leave it, so a generated revision
passes ``ruff format --check`` untouched.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable, Mapping
from importlib import resources
from string import Template
from typing import Any

from .compare import Change
from .ops import HELPERS

__all__ = ["render_revision"]


def _literal(value: Any) -> str:
    """Python source for a BSON-ish value, double-quoted as a formatter would leave it."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(value)


class _Call:
    """A call (or list) rendered on one line when it fits, else one argument per line with trailing commas.

    That is the layout a formatter keeps, so generated revisions pass ``ruff format --check``.
    """

    def __init__(self, head: str, args: list[str | _Call], close: str = ")") -> None:
        self.head, self.args, self.close = head, args, close

    def inline(self) -> str:
        return self.head + ", ".join(a if isinstance(a, str) else a.inline() for a in self.args) + self.close

    def render(self, indent: int, tail: int = 0, width: int = 120) -> str:
        text = self.inline()
        if indent + len(text) + tail <= width:
            return text
        pad = " " * (indent + 4)
        lines = [pad + (a if isinstance(a, str) else a.render(indent + 4, tail=1)) + ",\n" for a in self.args]
        return self.head + "\n" + "".join(lines) + " " * indent + self.close


def _create_indexes_source(collection: str, indexes: Iterable[tuple[str, dict[str, Any]]]) -> list[str]:
    models: list[str | _Call] = [
        _Call(
            "IndexModel(",
            [_literal(spec["key"]), f"name={_literal(name)}"]
            + [f"{option}={_literal(value)}" for option, value in spec.items() if option != "key"],
        )
        for name, spec in indexes
    ]
    if not models:
        return []
    return [_Call("create_indexes(", ["db", _literal(collection), _Call("[", models, "]")]).render(4)]


def _steps(changes: list[Change]) -> tuple[list[str], list[str]]:
    """The ``upgrade`` and ``downgrade`` statements for ``changes`` (downgrade in reverse order)."""
    added = {change.collection for change in changes if change.kind == "add_collection"}
    up: list[str] = []
    down: list[list[str]] = []
    for change in changes:
        collection = _literal(change.collection)
        if change.kind == "add_collection":
            up.append(f"create_collection(db, {collection})")
            down.append([f"drop_collection(db, {collection})"])
        elif change.kind == "remove_collection":
            up.append(f"drop_collection(db, {collection})")
            recreate = _create_indexes_source(change.collection, change.indexes)
            down.append([f"create_collection(db, {collection})", *recreate])
        elif change.kind == "add_index":
            assert change.name and change.index is not None
            up.extend(_create_indexes_source(change.collection, [(change.name, change.index)]))
            if change.collection not in added:  # else dropping the collection drops it
                down.append([f"drop_indexes(db, {collection}, [{_literal(change.name)}])"])
        else:
            assert change.name and change.index is not None
            up.append(f"drop_indexes(db, {collection}, [{_literal(change.name)}])")
            down.append(_create_indexes_source(change.collection, [(change.name, change.index)]))
    return up, [line for group in reversed(down) for line in group]


def render_revision(revision: str, down_revision: str | None, message: str, changes: list[Change]) -> str:
    """The text of a revision file carrying out ``changes``."""
    up, down = _steps(changes)
    text = "\n".join([*up, *down])
    # One import (IndexModel is re-exported here), so it sorts the same wherever db_plugins is installed.
    names = [name for name in HELPERS if f"{name}(" in text]
    imports = [f"from db_plugins.db.mongo.migrations import {', '.join(names)}\n"] if names else []
    template = Template((resources.files(__package__) / "templates" / "revision.py.tmpl").read_text(encoding="utf-8"))
    return template.substitute(
        message=message,
        revision=revision,
        down_revision=down_revision or "<base>",
        create_date=_dt.datetime.now().replace(microsecond=0).isoformat(sep=" "),
        imports="\n" + "".join(imports) if imports else "",
        revision_literal=_literal(revision),
        down_revision_literal=_literal(down_revision) if down_revision else "None",
        upgrade="\n".join(f"    {line}" for line in up) or "    pass",
        downgrade="\n".join(f"    {line}" for line in down) or "    pass",
    )
