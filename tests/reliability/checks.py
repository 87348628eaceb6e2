"""What the reliability tests assert after every failure: one clear line, nothing changed, nothing leaked."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.reliability.private import PASSWORD

#: A password that no server accepts, used for "wrong password": it must not leak either.
WRONG_PASSWORD = "Wr0ng-pw-7c41e9"
SECRETS = (PASSWORD, WRONG_PASSWORD)
#: Loggers scanned at DEBUG: ours and the native libraries', which may quote what we hand them.
LOGGERS = ("db_plugins", "sqlalchemy", "pymongo", "alembic")

__all__ = [
    "WRONG_PASSWORD",
    "SECRETS",
    "LOGGERS",
    "snapshot",
    "exception_text",
    "leaks",
    "assert_no_secret",
    "assert_one_line",
    "debug_logs",
]


def snapshot(db: Any) -> dict[str, Any]:
    """Schema and row counts of ``db`` (a db_plugins connection): equal before and after means unchanged."""
    if hasattr(db, "engine"):
        import sqlalchemy as sa

        with db.engine.connect() as connection:
            inspector = sa.inspect(connection)
            out = {}
            for table in sorted(inspector.get_table_names()):
                quoted = inspector.dialect.identifier_preparer.quote(table)
                try:
                    columns = [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)]
                    indexes = sorted((i["name"] or "", tuple(i["column_names"])) for i in inspector.get_indexes(table))
                except sa.exc.DBAPIError:
                    # A dialect whose reflection asks for catalogs the engine lacks (duckdb-engine's
                    # pg_collation): the columns the table has, as a query sees them.
                    connection.rollback()
                    columns = list(connection.exec_driver_sql(f"SELECT * FROM {quoted} LIMIT 0").keys())
                    indexes = []
                count = connection.exec_driver_sql(f"SELECT COUNT(*) FROM {quoted}").scalar()
                out[table] = (columns, indexes, count)
            return out
    database = db.database
    return {
        name: (sorted(index["name"] for index in database[name].list_indexes()), database[name].count_documents({}))
        for name in sorted(database.list_collection_names())
    }


def exception_text(exc: BaseException) -> str:
    """Everything an exception can show: its message, repr, args and the whole cause/context chain."""
    parts = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args)]
        parts += [repr(getattr(current, attr, "")) for attr in ("statement", "params", "details", "orig")]
        # What Python itself shows: the cause, else the context unless `raise ... from None` hid it.
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    parts.append("".join(traceback.format_exception(exc)))
    return "\n".join(parts)


def leaks(texts: Iterable[str], secrets: Iterable[str] = SECRETS) -> list[str]:
    """The secrets found in ``texts`` (also percent-encoded)."""
    from urllib.parse import quote_plus

    blob = "\n".join(texts)
    return [secret for secret in secrets if secret in blob or quote_plus(secret) in blob]


def assert_no_secret(*texts: str, secrets: Iterable[str] = SECRETS) -> None:
    found = leaks(texts, secrets)
    assert not found, f"leaked {found!r}"


def assert_one_line(message: str, *names: str) -> None:
    """One non-empty line that names the problem (every fragment of ``names`` is in it)."""
    assert message.strip(), "empty error message"
    assert "\n" not in message.strip(), f"not one line: {message!r}"
    for name in names:
        assert name in message, f"{name!r} not in {message!r}"


@contextmanager
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture :data:`LOGGERS` at DEBUG for the block (what the most verbose deployment would log)."""
    saved = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    try:
        yield caplog
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
