"""A ready declarative base for applications that do not bring their own."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

__all__ = ["Base"]


class Base(DeclarativeBase):
    """``db_plugins.db.sql.Base``: derive your models from it, or use your own base."""
