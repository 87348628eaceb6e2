"""pymongo, bson and server errors as db_plugins errors (shared by the connection and the bulk writers)."""

from __future__ import annotations

from bson import errors as bson_errors
from pymongo import errors as mongo_errors

from ...config import scrub
from ...errors import (
    ConnectionError,
    DatabaseError,
    DBPluginsError,
    DuplicateKeyError,
    IntegrityError,
    ValidationError,
)

__all__ = ["DUPLICATE_CODES", "translate_error"]

DUPLICATE_CODES = (11000, 11001)
# Server codes meaning "you may not use this server": auth failures, like SQL's connection errors.
_ACCESS_CODES = (13, 18)


def _detail(exc: BaseException) -> str:
    details = getattr(exc, "details", None)
    text = details.get("errmsg") if isinstance(details, dict) and details.get("errmsg") else str(exc)
    # pymongo appends the whole reply / topology description; the first clause says what happened.
    for cut in (", full error:", ", Timeout:"):
        text = text.split(cut)[0]
    return scrub(text.strip().splitlines()[0] if text.strip() else type(exc).__name__)


def translate_error(exc: BaseException, masked_url: str, engine: str = "MongoDB") -> BaseException:
    """Map a pymongo or bson error to a db_plugins error (anything else is returned unchanged)."""
    if isinstance(exc, bson_errors.BSONError):  # the encoder refused a value, before anything was sent
        return ValidationError(f"the document cannot be stored: {_detail(exc)}")
    if isinstance(exc, DBPluginsError) or not isinstance(exc, mongo_errors.PyMongoError):
        return exc
    code = getattr(exc, "code", None)
    # FerretDB 1.x on SQLite reports a unique index violated by an update as its backend's
    # error (code 1, "UNIQUE constraint failed"), not as MongoDB's 11000.
    if isinstance(exc, mongo_errors.DuplicateKeyError) or code in DUPLICATE_CODES or _backend_unique(exc):
        return DuplicateKeyError(f"duplicate key: {_detail(exc)}")
    if isinstance(exc, mongo_errors.ConnectionFailure) or code in _ACCESS_CODES:
        return ConnectionError(f"cannot use MongoDB at {masked_url}: {_detail(exc)}")
    if isinstance(exc, mongo_errors.WriteError) and code == 121:  # DocumentValidationFailure
        return IntegrityError(f"document validation failed: {_detail(exc)}")
    if isinstance(exc, mongo_errors.WriteError):
        # BadValue, a $-prefixed or dotted key, a document too large...: the data, not the server.
        return ValidationError(f"the server refused the document: {_detail(exc)}")
    if isinstance(exc, mongo_errors.BulkWriteError):
        return exc  # the bulk writers read which rows failed from it (db_plugins.db.mongo.bulk)
    # Whatever else the server or the driver raised (an operation it failed, a fault): still ours.
    return DatabaseError(f"{engine}: {_detail(exc)}")


def _backend_unique(exc: BaseException) -> bool:
    return getattr(exc, "code", None) == 1 and "UNIQUE constraint failed" in str(exc)
