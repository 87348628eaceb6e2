"""The ``MONGO`` plugin: registered under the ``db_plugins.plugins`` entry point."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..base.plugin import Plugin
from .config import SCHEMES, MongoConfig, validate_mongo_section

__all__ = ["MongoPlugin"]


class MongoPlugin(Plugin):
    """MongoDB and wire-compatible servers through pymongo 4.x; ``mongomock://`` in process."""

    name = "MONGO"

    def claims_url(self, url: str) -> bool:
        scheme, sep, _ = url.partition("://")
        return bool(sep) and scheme in SCHEMES

    def claims_section(self, section: Mapping[str, Any]) -> bool:
        return "DATABASE" in section or "USERNAME" in section

    def validate(self, section_name: str, section: Any, base_dir: os.PathLike | str | None = None) -> MongoConfig:
        return validate_mongo_section(section_name, section, base_dir)

    def connection(self, config: MongoConfig) -> Any:
        from .connection import MongoConnection

        return MongoConnection(config)

    def async_connection(self, config: Any) -> Any:
        from .aio import AsyncMongoConnection

        return AsyncMongoConnection(config)

    def migrations(self, config: MongoConfig, settings: Any = None) -> Any:
        from .migrations import MongoMigrations

        return MongoMigrations(config, settings)

    def transfer(self, config: MongoConfig) -> Any:
        from .transfer import MongoTransfer

        return MongoTransfer(config)
