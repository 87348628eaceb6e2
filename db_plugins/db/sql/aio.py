"""The SQL connection of the asyncio API: the same connection over an async driver.

SQLAlchemy's asyncio extension adapts the async drivers (asyncpg, aiosqlite,
aiomysql) to the DBAPI; its ``AsyncEngine.sync_engine`` is an ordinary
``Engine`` whose calls await the driver when run under
:func:`db_plugins.db.base.bridge.spawn`. So the sync connection, its
executor, sessions and writers run unchanged; only the URL's driver differs.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from ...errors import ConfigError
from ..base.bridge import TaskLocal, wait
from .config import SQLConfig
from .connection import SQLConnection
from .dialects import dialect_for
from .dialects.base import DriverRead
from .execute import Compiled, ReadPool

__all__ = ["AsyncSQLConnection", "DriverReadPool", "async_url"]

#: The dialects' default ``connect_args`` are the sync drivers' (libpq, PyMySQL): what each async
#: driver calls those it has; the others are left out. A user's ``connect_args`` pass on, those
#: named here renamed (a section written for the sync API works on the asyncio one).
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


def _connect(timeout_arg: str | None, dialect: Any, record: Any, cargs: Any, cparams: Any) -> Any:
    """The driver's connect(), bounded by its connect timeout, raising the DBAPI's errors.

    Some async drivers bound only the TCP connect by their timeout (aiomysql waits for
    a greeting that never comes for ever), and some let the socket's OSError or a
    timeout out of connect(), which SQLAlchemy's adapter passes on: as the DBAPI's
    OperationalError either is a ConnectionError.
    """
    timeout = cparams.get(timeout_arg) if timeout_arg else None
    task = asyncio.current_task()
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        task.cancel()

    # The driver's own timeout first; this one only where the driver has none for a step.
    timer = asyncio.get_running_loop().call_later(timeout + 1, expire) if timeout and task else None
    try:
        return dialect.connect(*cargs, **cparams)
    except asyncio.CancelledError:
        if not expired:
            raise
        task.uncancel()
        raise dialect.loaded_dbapi.OperationalError(f"no answer within the {timeout} s connect timeout") from None
    except (TimeoutError, OSError) as exc:
        raise dialect.loaded_dbapi.OperationalError(str(exc) or type(exc).__name__) from exc
    finally:
        if timer is not None:
            timer.cancel()


class DriverReadPool(ReadPool):
    """A :class:`ReadPool` whose reads run on the async driver's own connection.

    The compiled SQL goes straight to the driver (``read``: the dialect's
    :meth:`~.dialects.base.SQLOperations.driver_read`) and is awaited once from
    the greenlet: SQLAlchemy's DBAPI adapter, its cursor, its mutex and its row
    buffer are skipped. What the adapter does besides stays: its translation of
    the driver's errors to DBAPI ones (so the same db_plugins errors result), the
    connection's codecs and session settings (set up through it at connect), and
    the first run of each statement, whose cursor description gives the result
    processors.
    """

    def __init__(self, engine: sa.engine.Engine, features: Any, keep: bool, read: DriverRead) -> None:
        super().__init__(engine, features, keep)
        self._read = read

    def read(self, raw: Any, compiled: Compiled, params: Any) -> Sequence[Any]:
        if compiled.columns is None:
            return super().read(raw, compiled, params)
        adapter = raw.dbapi_connection
        try:
            return wait(self._read(adapter, compiled, params))
        except Exception as exc:
            adapter._handle_exception(exc)  # raises it as the adapter's DBAPI error (or as it is)


class AsyncSQLConnection(SQLConnection):
    """A :class:`SQLConnection` whose engine runs an asyncio driver (open and use it under ``spawn``)."""

    def _engine_url(self, config: SQLConfig) -> sa.engine.URL:
        return async_url(super()._engine_url(config))

    def _create_engine(self, url: sa.engine.URL, options: dict[str, Any]) -> sa.engine.Engine:
        renames = ASYNC_CONNECT_ARGS.get(url.get_driver_name())
        if renames is not None:
            given = options.get("connect_args") or {}
            defaults = self.features.connect_args
            args = {}
            for key, value in given.items():
                if key in renames:
                    args[renames[key]] = value
                elif key not in defaults or value is not defaults[key]:
                    args[key] = value  # the user's own: passed on (the driver names what it refuses)
            options = {**options, "connect_args": args}
        engine = create_async_engine(url, **options).sync_engine
        timeout_arg = (renames or {}).get("connect_timeout")
        sa.event.listen(engine, "do_connect", functools.partial(_connect, timeout_arg))
        return engine

    def _read_pool(self, engine: sa.engine.Engine, keep: bool) -> ReadPool:
        read = self.ops.driver_read(engine.dialect.driver)
        if read is None:
            return super()._read_pool(engine, keep)
        return DriverReadPool(engine, self.features, keep, read)

    def _new_local(self) -> Any:
        return TaskLocal()
