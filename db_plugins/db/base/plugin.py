"""The plugin contract: what a database plugin provides to the framework.

A plugin package registers a :class:`Plugin` subclass in the
``db_plugins.plugins`` entry-point group; :mod:`db_plugins.registry` loads it.
This module sits in the core, below the registry, so plugins import it and
never the registry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ...config import SectionConfig
from .transfer import TransferAdapter

if TYPE_CHECKING:
    from ..generic import DatabaseConnection

__all__ = ["Plugin"]


class Plugin:
    """What a database plugin provides to the framework.

    Subclasses set :attr:`name` and implement the methods below; engine
    differences live in the plugin's ``features`` objects, not here.
    """

    name: ClassVar[str] = ""

    def claims_url(self, url: str) -> bool:
        """Whether this plugin serves connection ``url``."""
        raise NotImplementedError

    def claims_section(self, section: Mapping[str, Any]) -> bool:
        """Whether a ``DB_CONFIG`` section with these keys (and no URL) is meant for this plugin."""
        raise NotImplementedError

    def validate(self, section_name: str, section: Any, base_dir: os.PathLike | str | None = None) -> SectionConfig:
        """Check a ``DB_CONFIG`` section and return its validated form (raises :class:`ConfigError`)."""
        raise NotImplementedError

    def connection(self, config: SectionConfig) -> DatabaseConnection:
        """Return a connection opened with a validated configuration."""
        raise NotImplementedError

    def async_connection(self, config: SectionConfig) -> DatabaseConnection:
        """A connection for the asyncio API (:func:`db_plugins.aio.connect_async`), opened under
        :func:`~db_plugins.db.base.bridge.spawn`: its executor awaits an async driver."""
        from ...errors import UnsupportedOperation

        raise UnsupportedOperation(f"the {self.name} plugin has no asyncio API")

    def migrations(self, config: SectionConfig, settings: Any = None) -> Any:
        """Return the migration backend for ``config`` (used by :mod:`db_plugins.commands`)."""
        raise NotImplementedError

    def transfer(self, config: SectionConfig) -> Any:
        """Return the :class:`~db_plugins.transfer.TransferAdapter` that finds tables for ``dbp dump``/``load``."""
        return TransferAdapter(config)
