"""find_all(paginate=False) streams: memory stays flat however many rows match."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

ROWS = 40_000


def _peak_while_streaming(q, limit):
    gc.collect()
    tracemalloc.start()
    try:
        seen = 0
        for row in q.find_all({"n": {"$lt": limit}}, order_by="n", paginate=False, batch_size=500):
            assert row.n == seen
            seen += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == limit
    return peak


@pytest.mark.slow
def test_streaming_memory_does_not_grow_with_rows(env):
    if not env.db.features.stream_flow_control:
        # mongomock's query engine filters and sorts every match in this process; asyncmy
        # buffers what a slow consumer has not taken.
        pytest.skip(f"{env.engine}: features.stream_flow_control is off")
    q = env.q("Item")
    # Fewer rows on the asyncio API: tracemalloc makes its many more allocations per row slow.
    rows = ROWS if env.api == "sync" else ROWS // 2
    q.bulk_insert({"oid": f"S{i:06d}", "n": i, "mag": float(i), "name": "x" * 40} for i in range(rows))
    small = _peak_while_streaming(q, rows // 8)
    large = _peak_while_streaming(q, rows)
    # 8x the rows: held in memory this would be ~8x the peak; streamed, about the same.
    assert large < small * 2 + 2_000_000, (small, large)
    assert large < 25_000_000, large
