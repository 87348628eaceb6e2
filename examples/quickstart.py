"""Quickstart: store some alerts through the query interface and print a page of objects.

Run from the repository root after ``cp settings.py.example settings.py``,
``dbp initdb`` and ``dbp migrate``::

    python examples/quickstart.py [--settings PATH] [--engine SQL|MONGO]

The same code runs on the SQL models (``examples/models.py``) and on the
Mongo ones (``examples/mongo_models.py``): only the section differs.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `examples` importable from a checkout

import db_plugins
from db_plugins.config import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", help="settings file or directory (default: $DBP_SETTINGS or ./settings.py)")
    parser.add_argument("--engine", default="SQL", type=str.upper, help="DB_CONFIG section: SQL (default) or MONGO")
    parser.add_argument("--objects", type=int, default=25, help="how many objects to simulate")
    args = parser.parse_args(argv)

    if args.engine == "MONGO":
        from examples.mongo_models import Detection, Object, Probability
    else:
        from examples.models import Detection, Object, Probability

    settings = load_settings(args.settings)
    with db_plugins.connect(settings.section(args.engine)) as db:
        # What dbp initdb made exists already; for a database made elsewhere
        # (a mongomock:// one lives only in this process) this creates it.
        db.create_db()
        rng = random.Random(42)
        objects = [{"oid": f"ZTF20aa{i:05d}", "ndet": 0} for i in range(args.objects)]
        created = db.query(Object).bulk_insert(objects, on_conflict="ignore")
        detections = [
            {
                "candid": 1_000_000 + i * 10 + k,
                "oid": obj["oid"],
                "mjd": 59000 + k + rng.random(),
                "fid": 1 + k % 2,
                "magpsf": round(rng.uniform(15, 20), 3),
                "sigmapsf": round(rng.uniform(0.01, 0.2), 3),
            }
            for i, obj in enumerate(objects)
            for k in range(3)
        ]
        db.query(Detection).bulk_insert(detections, on_conflict="update")
        for obj in db.query(Object).find_all(paginate=False):
            mjds = [d.mjd for d in db.query(Detection).find_all({"oid": obj.oid}, paginate=False)]
            db.query(Object).update(obj, {"ndet": len(mjds), "firstmjd": min(mjds), "lastmjd": max(mjds)})
        probability, new = db.query(Probability).get_or_create(
            {"oid": objects[0]["oid"], "classifier_name": "stamp", "class_name": "SN"}, probability=0.87, ranking=1
        )
        print(
            f"objects created: {created}; classification {'created' if new else 'found'}: "
            f"{probability.oid} {probability.class_name} p={probability.probability}"
        )

        page = db.query(Object).paginate(page=1, per_page=10, filter_by={"ndet": {"$gte": 3}}, order_by="oid")
        print(f"page {page.page} of {page.pages} ({page.total} objects with at least 3 detections):")
        for obj in page:
            print(f"  {obj.oid}  ndet={obj.ndet}  firstmjd={obj.firstmjd:.3f}  lastmjd={obj.lastmjd:.3f}")
        if page.has_next:
            print(f"next page: page={page.next_num} or after={page.next_cursor}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
