"""Mongo models of the example alert broker: the same objects, detections and probabilities as models.py."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING

from db_plugins.db.mongo import BaseModel, Field, IndexModel


class Object(BaseModel):
    """An astronomical object: the detections of one position in the sky (``oid`` is the ``_id``)."""

    __tablename__ = "object"
    __table_args__ = [IndexModel([("lastmjd", DESCENDING)])]

    oid = Field(str, primary_key=True)
    ndet = Field(int, default=0)
    firstmjd = Field(float)
    lastmjd = Field(float)
    meanra = Field(float)
    meandec = Field(float)


class Detection(BaseModel):
    """One alert: a measurement of an object in one band at one time."""

    __tablename__ = "detection"
    __table_args__ = [IndexModel([("oid", ASCENDING), ("mjd", ASCENDING)])]

    candid = Field(int, primary_key=True)
    oid = Field(str, required=True)
    mjd = Field(float, required=True)
    fid = Field(int, required=True)
    magpsf = Field(float, required=True)
    sigmapsf = Field(float, required=True)


class Probability(BaseModel):
    """A classifier's probability that an object belongs to a class (one per object, classifier and class)."""

    __tablename__ = "probability"
    __table_args__ = [
        IndexModel([("oid", ASCENDING), ("classifier_name", ASCENDING), ("class_name", ASCENDING)], unique=True)
    ]

    oid = Field(str, required=True)
    classifier_name = Field(str, required=True)
    class_name = Field(str, required=True)
    probability = Field(float, required=True)
    ranking = Field(int)
