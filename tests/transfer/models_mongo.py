"""Mongo models for the transfer tests (mirror models_sql.Reading)."""

from __future__ import annotations

import datetime as dt

from db_plugins.db.mongo import BaseModel, Field, IndexModel


class Reading(BaseModel):
    __tablename__ = "readings"

    id = Field(int, primary_key=True)
    name = Field(str)
    mag = Field(float)
    n = Field(int)
    flag = Field(bool)
    at = Field(dt.datetime)
    day = Field(dt.date)


class Note(BaseModel):
    """Keyed by a generated ObjectId, with nested values (only JSON Lines carries those exactly)."""

    __tablename__ = "notes"

    text = Field(str)
    tags = Field(list)
    meta = Field(dict)


class Station(BaseModel):
    """A generated key (an ObjectId ``_id``) and a natural key (``code``) the loaded rows give."""

    __tablename__ = "stations"
    __table_args__ = [IndexModel([("code", 1)], unique=True)]

    code = Field(str, required=True)
    name = Field(str)
