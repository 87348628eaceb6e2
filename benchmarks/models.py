"""The benchmark tables (SQL and Mongo) and the rows they hold.

Five columns, the mix of an astronomy broker's object table: an integer key,
a string identifier, a float, an integer and a timestamp.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .data import row

COLUMNS = ("id", "oid", "mag", "ndet", "created")


class Base(DeclarativeBase):
    pass


class _Columns:
    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    oid: Mapped[str] = mapped_column(sa.String(24))
    mag: Mapped[float] = mapped_column(sa.Float)
    ndet: Mapped[int] = mapped_column(sa.Integer)
    created: Mapped[dt.datetime] = mapped_column(sa.DateTime)


class WriteRow(_Columns, Base):
    """bulk_insert and upsert target (emptied before each run)."""

    __tablename__ = "bench_write"


class ReadRow(_Columns, Base):
    """The large table the reads run on."""

    __tablename__ = "bench_read"


class GocRow(_Columns, Base):
    """get_or_create: hits on the rows loaded, misses add rows."""

    __tablename__ = "bench_goc"


SQL_MODELS = {"write": WriteRow, "read": ReadRow, "goc": GocRow}


def mongo_models() -> dict[str, Any]:
    """The same three collections as Mongo models (imported late: the Mongo plugin is optional)."""
    from db_plugins.db.mongo import BaseModel, Field

    def model(collection: str) -> Any:
        namespace = {
            "__tablename__": collection,
            "id": Field(int, primary_key=True),
            "oid": Field(str),
            "mag": Field(float),
            "ndet": Field(int),
            "created": Field(dt.datetime),
        }
        return type(f"Bench_{collection}", (BaseModel,), namespace)

    return {name: model(f"bench_{name}") for name in ("write", "read", "goc")}


def rows(start: int, count: int) -> list[dict[str, Any]]:
    return [row(i) for i in range(start, start + count)]


def tuples(start: int, count: int) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in rows(start, count)]
