"""initial schema

Revision ID: f596201cb41f
Revises: <base>
Create Date: 2026-11-23 11:42:40

upgrade(db) and downgrade(db) receive the pymongo Database. MongoDB runs them
without a transaction, so keep each step safe to run again (the helpers
below are) and add data migrations with plain pymongo calls.
"""

from db_plugins.db.mongo.migrations import IndexModel, create_collection, create_indexes, drop_collection

revision = "f596201cb41f"
down_revision = None


def upgrade(db):
    create_collection(db, "object")
    create_indexes(db, "object", [IndexModel([("lastmjd", -1)], name="lastmjd_-1")])
    create_collection(db, "detection")
    create_indexes(db, "detection", [IndexModel([("oid", 1), ("mjd", 1)], name="oid_1_mjd_1")])
    create_collection(db, "probability")
    create_indexes(
        db,
        "probability",
        [
            IndexModel(
                [("oid", 1), ("classifier_name", 1), ("class_name", 1)],
                name="oid_1_classifier_name_1_class_name_1",
                unique=True,
            ),
        ],
    )


def downgrade(db):
    drop_collection(db, "probability")
    drop_collection(db, "detection")
    drop_collection(db, "object")
