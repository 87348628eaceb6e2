"""Sphinx configuration for the db-plugins documentation (built with -W in CI, see tests/test_docs.py)."""

from __future__ import annotations

import importlib
import itertools
import sys
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import db_plugins  # noqa: E402

project = "db-plugins"
author = "db-plugins maintainers"
release = db_plugins.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx_click",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_typehints = "description"
nitpicky = False
html_theme = "alabaster"


class FeaturesTable(Directive):
    """``{dbp-features} pkg.Class pkg.OtherClass ...``: a table of capability flags, read from the classes.

    Rows are the flags (class attributes documented with ``#:`` in the first
    class), columns the classes, so the page always shows what the code says.
    """

    required_arguments = 1
    final_argument_whitespace = True

    def run(self) -> list[nodes.Node]:
        classes = [_import(name) for name in self.arguments[0].split()]
        flags = _documented_flags(classes[0])
        table = nodes.table()
        group = nodes.tgroup(cols=len(classes) + 1)
        table += group
        for _ in range(len(classes) + 1):
            group += nodes.colspec(colwidth=1)
        head = nodes.thead()
        head += _row(["flag", *(cls.__name__ for cls in classes)])
        body = nodes.tbody()
        for flag in flags:
            body += _row([flag, *(repr(getattr(cls, flag)) for cls in classes)], literal=True)
        group += head
        group += body
        return [table]


def _import(name: str) -> Any:
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _documented_flags(cls: type) -> list[str]:
    """Class attributes of ``cls`` in source order that carry a ``#:`` comment."""
    import inspect

    source = inspect.getsource(cls).splitlines()
    out = []
    for before, line in itertools.pairwise(source):
        name = line.strip().split(":")[0].split("=")[0].strip()
        if before.strip().startswith("#:") and name.isidentifier() and hasattr(cls, name):
            out.append(name)
    return out


def _row(cells: list[str], literal: bool = False) -> nodes.row:
    row = nodes.row()
    for i, text in enumerate(cells):
        entry = nodes.entry()
        entry += nodes.paragraph("", "", nodes.literal(text, text) if literal or i == 0 else nodes.Text(text))
        row += entry
    return row


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("dbp-features", FeaturesTable)
    return {"parallel_read_safe": True}
