"""What a value means, decided once for every engine (SPEC §6).

Writes (the SQL and Mongo row checks), filters (the operands of a parsed
filter tree) and keyset cursors all go through the rules here, so one value
stores, matches and sorts the same way on SQLite, PostgreSQL, MariaDB and
MongoDB. Where an engine cannot follow a rule, the difference is a named flag
on that plugin's ``features`` and is listed in ``docs/filters.md``.
"""

from __future__ import annotations

__all__ = ["INT64_MIN", "INT64_MAX"]

#: Every engine stores integers in 64 bits (BSON int64, BIGINT, SQLite INTEGER).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
