"""The SQL connection of the asyncio API: the same connection over an async driver.

SQLAlchemy's asyncio extension adapts the async drivers (asyncpg, aiosqlite,
aiomysql) to the DBAPI; its ``AsyncEngine.sync_engine`` is an ordinary
``Engine`` whose calls await the driver when run under
:func:`db_plugins.db.base.bridge.spawn`. So the sync connection, its
executor, sessions and writers run unchanged; only the URL's driver differs.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from ...errors import ConfigError
from ..base.bridge import TaskLocal
from .config import SQLConfig
from .connection import SQLConnection
from .dialects import dialect_for

__all__ = ["AsyncSQLConnection", "async_url"]

#: The dialects' default ``connect_args`` are the sync drivers' (libpq, PyMySQL): what each async
#: driver calls those it has; the others are left out. A user's ``connect_args`` pass unchanged.
ASYNC_CONNECT_ARGS = {
    "asyncpg": {"connect_timeout": "timeout"},
    "aiomysql": {"connect_timeout": "connect_timeout"},
    "asyncmy": {"connect_timeout": "connect_timeout"},
}


def async_url(url: sa.engine.URL) -> sa.engine.URL:
    """``url`` with an asyncio driver: the one it names when that is async, else the backend's default."""
    dialect = url.get_dialect()
    if getattr(dialect, "is_async", False):
        return url
    backend = url.drivername.partition("+")[0]
    driver = dialect_for(dialect(), url)[0].async_driver
    if driver is None:
        raise ConfigError(f"connect_async: no asyncio driver for {backend!r} URLs (name one: {backend}+<driver>)")
    return url.set(drivername=f"{backend}+{driver}")


def _connect_raising_dbapi_errors(dialect: Any, record: Any, cargs: Any, cparams: Any) -> Any:
    # Some async drivers (asyncpg) let the socket's OSError or a timeout out of connect(), which
    # SQLAlchemy's adapter passes on as is: as the DBAPI's OperationalError it is a ConnectionError.
    try:
        return dialect.connect(*cargs, **cparams)
    except (TimeoutError, OSError) as exc:
        raise dialect.loaded_dbapi.OperationalError(str(exc) or type(exc).__name__) from exc


class AsyncSQLConnection(SQLConnection):
    """A :class:`SQLConnection` whose engine runs an asyncio driver (open and use it under ``spawn``)."""

    def _engine_url(self, config: SQLConfig) -> sa.engine.URL:
        return async_url(super()._engine_url(config))

    def _create_engine(self, url: sa.engine.URL, options: dict[str, Any]) -> sa.engine.Engine:
        renames = ASYNC_CONNECT_ARGS.get(url.get_driver_name())
        if renames is not None:
            given = options.get("connect_args") or {}
            defaults = self.features.connect_args
            args = {k: v for k, v in given.items() if k not in defaults or v is not defaults[k]}
            for key, value in defaults.items():
                if key in renames and given.get(key) is value:
                    args[renames[key]] = value
            options = {**options, "connect_args": args}
        engine = create_async_engine(url, **options).sync_engine
        sa.event.listen(engine, "do_connect", _connect_raising_dbapi_errors)
        return engine

    def _new_local(self) -> Any:
        return TaskLocal()
