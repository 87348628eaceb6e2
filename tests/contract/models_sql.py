"""The contract models, SQL version (mirrored field for field by models_mongo)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, Double, Float, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    """Keyed by a string the application chooses."""

    __tablename__ = "items"

    oid: Mapped[str] = mapped_column(String(64), primary_key=True)
    mag: Mapped[float | None] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str | None] = mapped_column(String(200))
    flag: Mapped[bool | None] = mapped_column(Boolean)


class Event(Base):
    """Keyed by a key the database generates."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    oid: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float)


class Sample(Base):
    """One column of each filterable kind, for the differential (property-based) tests."""

    __tablename__ = "samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    i: Mapped[int | None] = mapped_column(Integer)
    f: Mapped[float | None] = mapped_column(Double)
    s: Mapped[str | None] = mapped_column(String(40))
    b: Mapped[bool | None] = mapped_column(Boolean)


class Stamp(Base):
    """A datetime field, for the error-family sweep (tests/contract/test_error_family.py)."""

    __tablename__ = "stamps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime | None] = mapped_column(DateTime)
