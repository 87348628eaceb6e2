"""Models for the Mongo-specific tests: every field type, keyless and unique-indexed models."""

from __future__ import annotations

import datetime as dt
import decimal

from bson import ObjectId

from db_plugins.db.mongo import BaseModel, Field, IndexModel


def _today() -> dt.date:
    return dt.date(2024, 1, 2)


class Doc(BaseModel):
    """Keyed by a string field stored as ``_id``; one field of each type."""

    __tablename__ = "docs"
    __table_args__ = [IndexModel([("i", 1)], name="i_1"), IndexModel([("key", 1), ("s", -1)], name="key_s")]

    key = Field(str, primary_key=True)
    s = Field(str)
    i = Field(int, default=0)
    f = Field(float)
    b = Field(bool)
    when = Field(dt.datetime)
    day = Field(dt.date, default=_today)
    data = Field(dict)
    tags = Field(list)
    raw = Field(bytes)
    ref = Field(ObjectId)
    anything = Field()


class Note(BaseModel):
    """Keyed by a generated ObjectId ``_id``."""

    __tablename__ = "notes"

    text = Field(str, required=True)
    n = Field(int)


class User(BaseModel):
    """A unique secondary index: get_or_create on ``email`` upserts."""

    __tablename__ = "users"
    __table_args__ = [IndexModel([("email", 1)], unique=True, name="email_unique")]

    email = Field(str, required=True)
    name = Field(str)


class Price(BaseModel):
    """A Decimal field (Decimal128, which FerretDB 1.x cannot store)."""

    __tablename__ = "prices"

    sku = Field(str, primary_key=True)
    amount = Field(decimal.Decimal)


class Ticket(BaseModel):
    """An ObjectId primary key under a name of our own, generated when absent."""

    __tablename__ = "tickets"

    tid = Field(ObjectId, primary_key=True)
    title = Field(str)
