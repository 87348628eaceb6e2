"""The models the reliability tests write hostile data into: a SQL and a Mongo version, field for field."""

from __future__ import annotations

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.dialects.mysql import LONGTEXT
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db_plugins.db.mongo import BaseModel, Field


class Base(DeclarativeBase):
    pass


class Doc(Base):
    """A key the application chooses, a large text, a JSON document and a counter."""

    __tablename__ = "docs"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    # LONGTEXT on MariaDB: its TEXT holds 64 KB, and the tests store 1 MB.
    text: Mapped[str | None] = mapped_column(Text().with_variant(LONGTEXT(), "mysql", "mariadb"))
    payload: Mapped[dict | None] = mapped_column(JSON)
    n: Mapped[int | None] = mapped_column(Integer)


class MongoDoc(BaseModel):
    """``Doc`` on Mongo."""

    __tablename__ = "docs"

    key = Field(str, primary_key=True)
    text = Field(str)
    payload = Field(dict)
    n = Field(int)
