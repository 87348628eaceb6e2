"""A model whose every read says which server answered it (``pg_is_in_recovery()``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm


class Base(orm.DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "replica_notes"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    text: orm.Mapped[str] = orm.mapped_column(sa.String(50), unique=True)
    #: True when the row was read from a hot standby, False on the primary.
    on_standby: orm.Mapped[bool] = orm.column_property(sa.func.pg_is_in_recovery())
