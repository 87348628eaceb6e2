"""SQL models for the transfer tests (mirrored field for field by models_mongo)."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Double, Integer, LargeBinary, Numeric, String, Time, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Reading(Base):
    """One column of each type every engine stores exactly (DATETIME to the second, for MariaDB)."""

    __tablename__ = "readings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str | None] = mapped_column(String(100))
    mag: Mapped[float | None] = mapped_column(Double)
    n: Mapped[int | None] = mapped_column(Integer)
    flag: Mapped[bool | None] = mapped_column(Boolean)
    at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    day: Mapped[dt.date | None] = mapped_column(Date)


class Typed(Base):
    """The kinds only some engines have: decimals, UUIDs, bytes, times, JSON documents."""

    __tablename__ = "typed"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    price: Mapped[decimal.Decimal | None] = mapped_column(Numeric(12, 4))
    uid: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    blob: Mapped[bytes | None] = mapped_column(LargeBinary)
    t: Mapped[dt.time | None] = mapped_column(Time)
    doc: Mapped[Any] = mapped_column(JSON, nullable=True)


class Station(Base):
    """A generated key and a natural key (``code``) the loaded rows give."""

    __tablename__ = "stations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str | None] = mapped_column(String(100))
