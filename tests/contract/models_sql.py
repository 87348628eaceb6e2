"""The contract models, SQL version (mirrored field for field by models_mongo)."""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, DateTime, Double, Float, Integer, Numeric, String
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


# Microseconds on every engine (a plain DateTime is DATETIME(0), whole seconds, on MariaDB).
DateTime6 = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


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
    i: Mapped[int | None] = mapped_column(BigInteger)
    f: Mapped[float | None] = mapped_column(Double)
    s: Mapped[str | None] = mapped_column(String(40))
    b: Mapped[bool | None] = mapped_column(Boolean)
    t: Mapped[datetime | None] = mapped_column(DateTime6)


class Moment(Base):
    """Datetime columns: naive with microseconds, plain ``DateTime`` (whole seconds on
    MariaDB), and ``timezone=True`` (SQL only: Mongo has no such field)."""

    __tablename__ = "moments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    t: Mapped[datetime | None] = mapped_column(DateTime6)
    t0: Mapped[datetime | None] = mapped_column(DateTime)
    tz: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True).with_variant(mysql.DATETIME(timezone=True, fsp=6), "mysql", "mariadb")
    )


class Price(Base):
    """A decimal field: exact where the engine has a decimal type (SPEC §6)."""

    __tablename__ = "prices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(20, 4))


class Numbered(Base):
    """An autoincrement integer key that rows may also give: 0 and negative keys included."""

    __tablename__ = "numbered"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    label: Mapped[str | None] = mapped_column(String(40))


class Natural(Base):
    """A surrogate key the database generates and a natural key the rows give."""

    __tablename__ = "naturals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    value: Mapped[float | None] = mapped_column(Float)


class TwoKeys(Base):
    """A generated key and two unique columns the rows give."""

    __tablename__ = "two_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    value: Mapped[float | None] = mapped_column(Float)


class Stamp(Base):
    """A datetime field, for the error-family sweep (tests/contract/test_error_family.py)."""

    __tablename__ = "stamps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime | None] = mapped_column(DateTime)
