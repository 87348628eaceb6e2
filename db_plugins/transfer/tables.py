"""Tables as ``dbp dump`` / ``dbp load`` see them, and finding one by name in the settings.

A :class:`Table` is a list of fields, a stream of rows and a bulk write;
:class:`ModelTable` provides one over any plugin's query interface. Each
plugin's :class:`TransferAdapter` (``Plugin.transfer(config)``) finds models
by name and the tables or collections that have none.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from ..config import Settings
from ..db.base.transfer import ModelTable, Table, TransferAdapter
from ..errors import ConfigError, NotFoundError
from ..registry import get_plugin

__all__ = ["Table", "ModelTable", "TransferAdapter", "open_table"]


@contextlib.contextmanager
def open_table(settings: Settings, name: str, engine: str | None = None) -> Iterator[tuple[str, Table]]:
    """Connect to the section that has ``name`` and yield ``(section, table)``; close on exit.

    ``name`` is a model's class name or table (collection) name in a
    section's ``MODELS``, else a table (collection) of the database without a
    model. ``engine`` restricts the search to one section; a name found in
    several sections raises :class:`~db_plugins.ConfigError` asking for one.
    """
    sections = [engine.upper()] if engine else list(settings.sections)
    configs = {s: settings.section(s) for s in sections}
    adapters = {s: get_plugin(c.plugin).transfer(c) for s, c in configs.items()}
    models = {s: m for s, a in adapters.items() if (m := a.model(name)) is not None}
    _one(name, models, "a model")
    opened: list[Any] = []

    def connect(section: str) -> Any:
        opened.append(get_plugin(configs[section].plugin).connection(configs[section]))
        return opened[-1]

    try:
        if models:
            section, model = next(iter(models.items()))
            db = connect(section)
            table_name = adapters[section].missing(db, model)
            if table_name is not None:
                raise NotFoundError(
                    f"{section}: table {table_name!r} does not exist in {configs[section].masked_url} "
                    "(run dbp initdb or dbp migrate)"
                )
            yield section, ModelTable(db.query(model))
            return
        # No model: every section's database is asked, so that a name two of them have is refused.
        tables = {s: t for s in sections if (t := adapters[s].table(connect(s), name)) is not None}
        _one(name, tables, "a table or collection")
        if not tables:
            where = "; ".join(f"{s}: {_known(adapters[s])} at {configs[s].masked_url}" for s in sections)
            raise NotFoundError(f"no model, table or collection named {name!r} ({where})")
        yield next(iter(tables.items()))
    finally:
        for db in opened:
            db.close()


def _one(name: str, found: Mapping[str, Any], what: str) -> None:
    if len(found) > 1:
        choices = " or ".join(f"--engine {s}" for s in found)
        raise ConfigError(f"{name!r} is {what} in {' and '.join(found)}: pass {choices}")


def _known(adapter: TransferAdapter) -> str:
    names = sorted({m[1] for m in adapter.models()})
    return f"models {', '.join(names)}" if names else "no models"
