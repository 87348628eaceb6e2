"""Plugin discovery through the ``db_plugins.plugins`` entry-point group, and :func:`connect`.

A plugin is a class deriving from :class:`Plugin`, registered by its package as::

    [options.entry_points]
    db_plugins.plugins =
        SQL = db_plugins.db.sql.plugin:SQLPlugin

The entry-point name is the ``DB_CONFIG`` key the plugin serves.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from . import config as _config
from .config import SectionConfig, get_logger, mask_url
from .db.base.plugin import Plugin
from .errors import ConfigError

if TYPE_CHECKING:
    from .db.generic import DatabaseConnection

__all__ = ["Plugin", "ENTRY_POINT_GROUP", "available_plugins", "get_plugin", "register_plugin", "connect"]

ENTRY_POINT_GROUP = "db_plugins.plugins"

# Used only when the distribution's metadata is absent (a source checkout on
# sys.path without `pip install`), so the built-ins still work there.
_BUILTINS = {
    "SQL": "db_plugins.db.sql.plugin:SQLPlugin",
    "MONGO": "db_plugins.db.mongo.plugin:MongoPlugin",
}

logger = get_logger(__name__)

_registered: dict[str, type[Plugin]] = {}
_instances: dict[str, Plugin] = {}


def register_plugin(name: str, plugin: type[Plugin]) -> None:
    """Register ``plugin`` under ``name`` at run time (entry points are the usual way)."""
    _registered[name] = plugin
    _instances.pop(name, None)


def _discover() -> dict[str, Any]:
    found: dict[str, Any] = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    for name, target in _BUILTINS.items():
        found.setdefault(name, target)
    found.update(_registered)
    return found


def available_plugins() -> list[str]:
    """The names of every plugin that can be loaded (``DB_CONFIG`` keys)."""
    return sorted(_discover())


def get_plugin(name: str) -> Plugin:
    """Return the plugin registered as ``name`` (raises :class:`ConfigError` when there is none)."""
    if name in _instances:
        return _instances[name]
    found = _discover()
    if not isinstance(name, str) or name not in found:
        known = ", ".join(sorted(found))
        raise ConfigError(f"DB_CONFIG: unknown section {name!r} (expected a plugin name: {known})")
    target = found[name]
    try:
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            cls = getattr(importlib.import_module(module), attr)
        elif isinstance(target, type):
            cls = target
        else:
            cls = target.load()
        instance = cls()
    except Exception as exc:
        raise ConfigError(f"plugin {name!r} failed to load: {type(exc).__name__}: {exc}") from exc
    _instances[name] = instance
    return instance


def _plugins() -> list[Plugin]:
    """Every plugin that loads; a broken third-party plugin must not take the others down."""
    plugins = []
    for name in available_plugins():
        try:
            plugins.append(get_plugin(name))
        except ConfigError as exc:
            logger.warning("%s", exc)
    return plugins


def connect(config_or_url: Any, plugin: str | None = None) -> DatabaseConnection:
    """Open a connection from a URL, a ``DB_CONFIG`` section or a validated section.

    The plugin is inferred from the URL scheme or the section's keys; where it
    cannot be, :class:`ConfigError` asks for ``plugin="SQL"`` or ``plugin="MONGO"``.
    """
    config = resolve_config(config_or_url, plugin)
    return get_plugin(config.plugin).connection(config)


def resolve_config(config_or_url: Any, plugin: str | None = None, base_dir: Any = None) -> SectionConfig:
    """Turn what :func:`connect` accepts into a validated :class:`SectionConfig`."""
    if plugin is None and not isinstance(config_or_url, SectionConfig):
        section = config_or_url
        if isinstance(section, (str, os.PathLike)):
            section = {"URL": os.fspath(section)}
        if isinstance(section, Mapping):
            plugin = _infer_plugin(section)
    return _config.resolve_section(config_or_url, plugin or "", base_dir=base_dir)


def _infer_plugin(section: Mapping[str, Any]) -> str:
    url = section.get("URL") or section.get("SQLALCHEMY_DATABASE_URL")
    if isinstance(url, str):
        claimed = [p.name for p in _plugins() if p.claims_url(url)]
        what = f"URL {mask_url(url)!r}"
    else:
        claimed = [p.name for p in _plugins() if p.claims_section(section)]
        what = "this section's keys"
    if len(claimed) == 1:
        return claimed[0]
    choices = "|".join(f'"{name}"' for name in available_plugins())
    reason = "no plugin serves" if not claimed else "more than one plugin serves"
    raise ConfigError(f"connect: {reason} {what}; pass plugin={choices}")


_config.use_plugins(get_plugin)
