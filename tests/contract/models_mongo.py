"""The contract models, Mongo version (mirrors models_sql field for field)."""

from __future__ import annotations

import datetime as dt

from db_plugins.db.mongo import BaseModel, Field, IndexModel


class Item(BaseModel):
    """Keyed by a string the application chooses (stored as ``_id``)."""

    __tablename__ = "items"
    __table_args__ = [IndexModel([("mag", 1)])]

    oid = Field(str, primary_key=True)
    mag = Field(float)
    n = Field(int, default=0)
    name = Field(str)
    flag = Field(bool)


class Event(BaseModel):
    """Keyed by a key the database generates (an ObjectId ``_id``)."""

    __tablename__ = "events"

    oid = Field(str, required=True)
    value = Field(float)


class Sample(BaseModel):
    """One field of each filterable kind, for the differential (property-based) tests."""

    __tablename__ = "samples"

    id = Field(int, primary_key=True)
    i = Field(int)
    f = Field(float)
    s = Field(str)
    b = Field(bool)


class Stamp(BaseModel):
    """A datetime field, for the error-family sweep (tests/contract/test_error_family.py)."""

    __tablename__ = "stamps"

    id = Field(int, primary_key=True)
    at = Field(dt.datetime)
