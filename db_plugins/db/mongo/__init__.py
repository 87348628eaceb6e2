"""The Mongo plugin: MongoDB and wire-compatible servers (pymongo), and ``mongomock://`` in process.

``MongoConnection`` and ``MongoDatabaseCreator`` keep the seed's names;
models derive from ``BaseModel`` with typed ``Field`` attributes and pymongo
``IndexModel`` indexes in ``__table_args__``.
"""

from pymongo import IndexModel

from .connection import MongoConnection, MongoDatabaseCreator
from .models import BaseModel, Field
from .query import MongoQuery

__all__ = ["MongoConnection", "MongoDatabaseCreator", "MongoQuery", "BaseModel", "Field", "IndexModel"]
