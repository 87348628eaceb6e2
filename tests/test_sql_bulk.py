"""bulk_insert's batches and the cyclic garbage collector."""

from __future__ import annotations

import gc

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import db_plugins


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "rows"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(sa.String(20))
    value: Mapped[float | None] = mapped_column()


def test_a_list_is_inserted_without_a_collection_per_batch(tmp_path) -> None:
    """A batch's rows become tuples, columns and the driver's rows, thousands of containers:
    freed before the collector counts again, no collection walks them at the end of a batch
    (the collector may still run there, over what little else is young)."""
    with db_plugins.connect({"URL": f"sqlite:///{tmp_path / 'bulk.db'}"}) as db:
        Base.metadata.create_all(db.engine)
        size = db.features.bulk_batch_size
        rows = [{"id": i, "name": f"r{i}", "value": i / 3} for i in range(3 * size + 7)]
        query = db.query(Row)
        query.bulk_insert([{"id": -1, "name": "first", "value": 0.5}])  # (the shape's caches made)
        walked: list[int] = []

        def count(phase: str, info: dict) -> None:
            if phase == "start":
                walked.append(len(gc.get_objects(generation=info["generation"])))

        gc.collect()
        gc.callbacks.append(count)
        try:
            assert query.bulk_insert(rows) == len(rows)
        finally:
            gc.callbacks.remove(count)
        assert all(young < size // 10 for young in walked), walked
        assert query.count() == len(rows) + 1 and query.find_one({"id": 3 * size}).name == f"r{3 * size}"
