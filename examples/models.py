"""SQL models of the example alert broker (SQLAlchemy 2.x declarative)."""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db_plugins.db.sql import Base


class Object(Base):
    """An astronomical object: the detections of one position in the sky."""

    __tablename__ = "object"

    oid: Mapped[str] = mapped_column(String(32), primary_key=True)
    ndet: Mapped[int] = mapped_column(Integer, default=0)
    firstmjd: Mapped[float | None] = mapped_column(Float)
    lastmjd: Mapped[float | None] = mapped_column(Float)
    meanra: Mapped[float | None] = mapped_column(Float)
    meandec: Mapped[float | None] = mapped_column(Float)

    detections: Mapped[list[Detection]] = relationship(back_populates="object", lazy="raise")


class Detection(Base):
    """One alert: a measurement of an object in one band at one time."""

    __tablename__ = "detection"

    candid: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    oid: Mapped[str] = mapped_column(ForeignKey("object.oid"), index=True)
    mjd: Mapped[float] = mapped_column(Float)
    fid: Mapped[int] = mapped_column(SmallInteger)
    magpsf: Mapped[float] = mapped_column(Float)
    sigmapsf: Mapped[float] = mapped_column(Float)

    object: Mapped[Object] = relationship(back_populates="detections", lazy="raise")


class Probability(Base):
    """A classifier's probability that an object belongs to a class."""

    __tablename__ = "probability"

    oid: Mapped[str] = mapped_column(ForeignKey("object.oid"), primary_key=True)
    classifier_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    class_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    probability: Mapped[float] = mapped_column(Float)
    ranking: Mapped[int] = mapped_column(SmallInteger)
