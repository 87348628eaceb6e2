"""Model versions the migration tests write into their project: V1, then V2 with one change of each kind."""

from __future__ import annotations

SQL_V1 = """
from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Star(Base):
    __tablename__ = "star"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    mag: Mapped[float | None] = mapped_column(Float)


class Observation(Base):
    __tablename__ = "observation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    star: Mapped[str] = mapped_column(ForeignKey("star.name"), index=True)
    flux: Mapped[float] = mapped_column(Float)
"""

# A new column (star.color), a new index (observation.flux) and a new table (catalog).
SQL_V2 = """
from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Star(Base):
    __tablename__ = "star"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    mag: Mapped[float | None] = mapped_column(Float)
    color: Mapped[str | None] = mapped_column(String(8))


class Observation(Base):
    __tablename__ = "observation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    star: Mapped[str] = mapped_column(ForeignKey("star.name"), index=True)
    flux: Mapped[float] = mapped_column(Float, index=True)


class Catalog(Base):
    __tablename__ = "catalog"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(64))
"""

SQL_V2_DIFFERENCES = ("add column star.color", "add index ix_observation_flux", "add table catalog")
