"""The ``SQL`` plugin: registered under the ``db_plugins.plugins`` entry point."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from ..base.plugin import Plugin
from .config import PART_KEYS, SQLConfig, validate_sql_section

__all__ = ["SQLPlugin"]


class SQLPlugin(Plugin):
    """Relational databases through SQLAlchemy 2.x (SQLite, PostgreSQL, MariaDB/MySQL, ...)."""

    name = "SQL"

    def claims_url(self, url: str) -> bool:
        try:
            sa.engine.make_url(url).get_dialect()
        except Exception:
            return False
        return True

    def claims_section(self, section: Mapping[str, Any]) -> bool:
        return (
            "ENGINE" in section
            or "DB_NAME" in section
            or bool(set(section) & set(PART_KEYS) - {"HOST", "PASSWORD", "PORT"})
        )

    def validate(self, section_name: str, section: Any, base_dir: os.PathLike | str | None = None) -> SQLConfig:
        return validate_sql_section(section_name, section, base_dir)

    def connection(self, config: SQLConfig) -> Any:
        from .connection import SQLConnection

        return SQLConnection(config)

    def async_connection(self, config: Any) -> Any:
        from .aio import AsyncSQLConnection

        return AsyncSQLConnection(config)

    def migrations(self, config: SQLConfig, settings: Any = None) -> Any:
        from .migrations import SQLMigrations

        return SQLMigrations(config, settings)

    def transfer(self, config: SQLConfig) -> Any:
        from .transfer import SQLTransfer

        return SQLTransfer(config)
