"""The db-plugins benchmark harness: our query interface against the raw drivers.

``python -m benchmarks [--engines ...] [--rows N] [--repeat K] [--out FILE] [--quick] [--api sync|async|both]``
runs every operation on every engine whose server is configured (the same
``DBP_TEST_*_URL`` variables as the tests; SQLite always), each in a private
database created for the run and dropped afterwards. For every operation it
times our call, the raw driver doing the same work, and the same work written
plainly (SQLAlchemy's ORM with a ``Session`` per call; pymongo), taking turns,
and reports the medians and their ratios. The async rows (:mod:`benchmarks.aio`)
time the asyncio API against the raw async driver the same way. See
``docs/performance.md``.
"""
