"""The contract models, Mongo version (mirrors models_sql field for field)."""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from decimal import Decimal

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
    t = Field(datetime)


class Moment(BaseModel):
    """Datetime fields (naive UTC, milliseconds); the SQL model's ``tz`` column has no Mongo twin."""

    __tablename__ = "moments"

    id = Field(int, primary_key=True)
    t = Field(datetime)
    t0 = Field(datetime)


class Price(BaseModel):
    """A decimal field: exact where the engine has a decimal type (SPEC §6)."""

    __tablename__ = "prices"

    id = Field(int, primary_key=True)
    amount = Field(Decimal)


class Numbered(BaseModel):
    """An integer key the rows give: 0 and negative keys included."""

    __tablename__ = "numbered"

    id = Field(int, primary_key=True)
    label = Field(str)


class Natural(BaseModel):
    """A generated key (an ObjectId ``_id``) and a natural key the rows give."""

    __tablename__ = "naturals"
    __table_args__ = [IndexModel([("key", 1)], unique=True)]

    key = Field(str, required=True)
    value = Field(float)


class TwoKeys(BaseModel):
    """A generated key and two unique fields the rows give."""

    __tablename__ = "two_keys"
    __table_args__ = [IndexModel([("key", 1)], unique=True), IndexModel([("code", 1)], unique=True)]

    key = Field(str, required=True)
    code = Field(str, required=True)
    value = Field(float)


class Stamp(BaseModel):
    """A datetime field, for the error-family sweep (tests/contract/test_error_family.py)."""

    __tablename__ = "stamps"

    id = Field(int, primary_key=True)
    at = Field(dt.datetime)
