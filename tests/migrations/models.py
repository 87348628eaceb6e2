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

MONGO_V1 = """
from db_plugins.db.mongo import BaseModel, Field, IndexModel


class Star(BaseModel):
    __tablename__ = "star"
    __table_args__ = [IndexModel([("mag", 1)])]
    name = Field(str, primary_key=True)
    mag = Field(float)


class Observation(BaseModel):
    __tablename__ = "observation"
    __table_args__ = [IndexModel([("star", 1)])]
    id = Field(int, primary_key=True)
    star = Field(str, required=True)
    flux = Field(float)
"""

# A new field with an index, an index replaced by another, and a new collection.
MONGO_V2 = """
from db_plugins.db.mongo import BaseModel, Field, IndexModel


class Star(BaseModel):
    __tablename__ = "star"
    __table_args__ = [IndexModel([("mag", 1)]), IndexModel([("color", 1)])]
    name = Field(str, primary_key=True)
    mag = Field(float)
    color = Field(str)


class Observation(BaseModel):
    __tablename__ = "observation"
    __table_args__ = [IndexModel([("flux", -1)], name="by_flux")]
    id = Field(int, primary_key=True)
    star = Field(str, required=True)
    flux = Field(float)


class Catalog(BaseModel):
    __tablename__ = "catalog"
    __table_args__ = [IndexModel([("title", 1)], unique=True)]
    title = Field(str, required=True)
"""

MONGO_V2_DIFFERENCES = (
    "add index color_1 on star (color 1)",
    "add index by_flux on observation (flux -1)",
    "remove index star_1 on observation (star 1)",
    "add collection catalog",
    "add unique index title_1 on catalog (title 1)",
)
