"""The contract models, Mongo version (mirrors models_sql field for field)."""

from __future__ import annotations

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
