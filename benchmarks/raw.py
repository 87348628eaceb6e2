"""The references: each operation's work done with the raw driver, as a user of it would.

SQL engines connect with the arguments SQLAlchemy's dialect would use for the
same URL (so both sides talk to the server the same way) and then use only the
DBAPI driver: PostgreSQL ``COPY`` and ``execute_values`` (psycopg2), MariaDB
``executemany`` (PyMySQL, which sends multi-row INSERTs), SQLite ``executemany``
in one transaction; reads on an autocommit connection, one statement each.
Mongo uses pymongo on ready dicts.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from .models import COLUMNS

CAPPED = "SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT {limit}) AS capped"


class RawSQL:
    """One DBAPI connection for writes (explicit commits) and one in autocommit for reads."""

    placeholder = "%s"

    def __init__(self, url: str) -> None:
        engine = sa.create_engine(url)
        self.dialect = engine.dialect
        cargs, cparams = self.dialect.create_connect_args(sa.make_url(url))
        engine.dispose()
        self._connect_args = (cargs, cparams)
        self.write = self.connect()
        self.read = self.connect(autocommit=True)
        cols = ", ".join(COLUMNS)
        marks = ", ".join([self.placeholder] * len(COLUMNS))
        self.insert_sql = f"INSERT INTO {{table}} ({cols}) VALUES ({marks})"
        self.select = f"SELECT {cols} FROM {{table}}"

    def connect(self, autocommit: bool = False) -> Any:
        cargs, cparams = self._connect_args
        conn = self.dialect.loaded_dbapi.connect(*cargs, **cparams)
        if autocommit:
            self.set_autocommit(conn)
        return conn

    def set_autocommit(self, conn: Any) -> None:
        conn.autocommit = True

    def close(self) -> None:
        self.write.close()
        self.read.close()

    # -- writes ------------------------------------------------------------------

    def truncate(self, table: str) -> None:
        cur = self.write.cursor()
        cur.execute(f"DELETE FROM {table}")
        self.write.commit()

    def bulk_insert(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        cur = self.write.cursor()
        cur.executemany(self.insert_sql.format(table=table), rows)
        self.write.commit()

    analyze_sql = "ANALYZE {table}"

    def analyze(self, table: str) -> None:
        """Planner statistics for ``table``, as a table in use has (both sides read the same table)."""
        cur = self.read.cursor()
        cur.execute(self.analyze_sql.format(table=table))
        if cur.description:
            cur.fetchall()
        cur.close()

    def bulk_update(self, table: str, pairs: list[tuple[float, int]]) -> None:
        """``UPDATE ... SET mag = ? WHERE id = ?`` for every ``(mag, id)``, in one transaction."""
        cur = self.write.cursor()
        cur.executemany(f"UPDATE {table} SET mag = {self.placeholder} WHERE id = {self.placeholder}", pairs)
        self.write.commit()

    # -- reads -------------------------------------------------------------------

    def fetchone(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        cur = self.read.cursor()
        cur.execute(sql, params)
        row = cur.fetchone()
        cur.close()
        return row

    def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        cur = self.read.cursor()
        cur.execute(sql, params)
        rows = cur.fetchall()
        cur.close()
        return rows

    def find_one(self, table: str, key: int) -> Any:
        return self.fetchone(f"{self.select.format(table=table)} WHERE id = {self.placeholder}", (key,))

    def page(self, table: str, offset: int, limit: int) -> list[dict[str, Any]]:
        """A page as a user of the bare driver would hand it on: a dict of Python values per row."""
        return self.dicts(self.fetchall(f"{self.select.format(table=table)} ORDER BY id LIMIT {limit} OFFSET {offset}"))

    def keyset(self, table: str, after: int, limit: int) -> list[dict[str, Any]]:
        sql = f"{self.select.format(table=table)} WHERE id > {self.placeholder} ORDER BY id LIMIT {limit}"
        return self.dicts(self.fetchall(sql, (after,)))

    def dicts(self, rows: list[Any]) -> list[dict[str, Any]]:
        return [dict(zip(COLUMNS, row)) for row in rows]

    def count(self, table: str, limit: int | None = None) -> int:
        sql = f"SELECT count(*) FROM {table}" if limit is None else CAPPED.format(table=table, limit=limit)
        return self.fetchone(sql)[0]

    def get_or_create(self, table: str, values: tuple[Any, ...]) -> Any:
        """Read by key; insert when missing (autocommit)."""
        found = self.find_one(table, values[0])
        if found is not None:
            return found
        cur = self.read.cursor()
        cur.execute(self.insert_sql.format(table=table), values)
        cur.close()
        return values

    def stream(self, table: str, batch: int) -> Iterator[Any]:
        """Every row in key order through a server-side cursor."""
        cur = self.read.cursor()
        cur.execute(f"{self.select.format(table=table)} ORDER BY id")
        yield from cur


class RawPostgres(RawSQL):
    """psycopg2: COPY for bulk loads, execute_values for upserts, a named cursor for streams."""

    def bulk_insert(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        buffer.seek(0)
        cur = self.write.cursor()
        cur.copy_expert(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT csv)", buffer)
        self.write.commit()

    def upsert(self, table: str, rows: list[tuple[Any, ...]], mode: str) -> None:
        from psycopg2.extras import execute_values

        if mode == "ignore":
            action = "DO NOTHING"
        else:
            action = "DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS[1:])
        sql = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES %s ON CONFLICT (id) {action}"
        execute_values(self.write.cursor(), sql, rows, page_size=1000)
        self.write.commit()

    def bulk_update(self, table: str, pairs: list[tuple[float, int]]) -> None:
        from psycopg2.extras import execute_values

        sql = f"UPDATE {table} AS t SET mag = v.mag FROM (VALUES %s) AS v(mag, id) WHERE t.id = v.id"
        execute_values(self.write.cursor(), sql, pairs, template="(%s::float8, %s::bigint)", page_size=1000)
        self.write.commit()

    def stream(self, table: str, batch: int) -> Iterator[Any]:
        cur = self.write.cursor(name="bench_stream")
        cur.itersize = batch
        cur.execute(f"{self.select.format(table=table)} ORDER BY id")
        yield from cur
        cur.close()
        self.write.commit()


class RawMySQL(RawSQL):
    """PyMySQL: executemany (multi-row INSERT statements), an unbuffered cursor for streams."""

    analyze_sql = "ANALYZE TABLE {table}"

    def set_autocommit(self, conn: Any) -> None:
        conn.autocommit(True)

    def upsert(self, table: str, rows: list[tuple[Any, ...]], mode: str) -> None:
        sql = self.insert_sql.format(table=table)
        if mode == "ignore":
            sql = sql.replace("INSERT", "INSERT IGNORE", 1)
        else:
            sql += " ON DUPLICATE KEY UPDATE " + ", ".join(f"{c} = VALUES({c})" for c in COLUMNS[1:])
        self.write.cursor().executemany(sql, rows)
        self.write.commit()

    def stream(self, table: str, batch: int) -> Iterator[Any]:
        import pymysql.cursors

        cur = self.read.cursor(pymysql.cursors.SSCursor)
        cur.execute(f"{self.select.format(table=table)} ORDER BY id")
        yield from cur
        cur.close()


class RawSQLite(RawSQL):
    """sqlite3: executemany in one transaction; cursors are lazy already."""

    placeholder = "?"

    def set_autocommit(self, conn: Any) -> None:
        # sqlite3's default (used for writes) opens a transaction before a write.
        conn.isolation_level = None

    def dicts(self, rows: list[Any]) -> list[dict[str, Any]]:
        # sqlite3 hands back the stored text of a datetime: the same dicts hold a datetime.
        parse = dt.datetime.fromisoformat
        return [{**dict(zip(COLUMNS, row)), "created": parse(row[4])} for row in rows]

    def upsert(self, table: str, rows: list[tuple[Any, ...]], mode: str) -> None:
        sql = self.insert_sql.format(table=table)
        if mode == "ignore":
            sql += " ON CONFLICT DO NOTHING"
        else:
            sql += " ON CONFLICT (id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
        self.write.executemany(sql, rows)
        self.write.commit()


def raw_sql(engine: str, url: str) -> RawSQL:
    return {"postgresql": RawPostgres, "mysql": RawMySQL, "sqlite": RawSQLite}[engine](url)


class RawMongo:
    """pymongo on ready dicts (``_id`` = the key); updates in one unordered ``bulk_write``.

    ``client`` is a pymongo client of its own for a server; for mongomock, whose
    data lives in the process, it must be the one our connection uses
    (``db.client``), and bulk writes go one by one (mongomock's ``bulk_write``
    does not take current pymongo's operations).
    """

    def __init__(self, client: Any, database: str, bulk_write: bool = True) -> None:
        self.client = client
        self.db = client[database]
        self.bulk_write = bulk_write
        # FerretDB 1.24 never answers a bulk_write of 100 or more updates (and stalls):
        # anyone using it directly has to send them in smaller pieces.
        self.update_chunk = 99 if bulk_write and is_ferretdb(client) else None

    @classmethod
    def connect(cls, url: str) -> RawMongo:
        import pymongo

        return cls(pymongo.MongoClient(url), database_of(url))

    def close(self) -> None:
        self.client.close()

    @staticmethod
    def doc(row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        out["_id"] = out.pop("id")
        return out

    def truncate(self, collection: str) -> None:
        # drop, not delete_many({}): FerretDB 1.24 lists every _id as an SQLite variable
        # and fails past 32,766 documents. (The benchmark collections have no indexes.)
        self.db[collection].drop()

    def analyze(self, collection: str) -> None:
        """Nothing to do: MongoDB keeps no planner statistics."""

    def bulk_insert(self, collection: str, docs: list[dict[str, Any]]) -> None:
        self.db[collection].insert_many(docs, ordered=False)

    def upsert(self, collection: str, docs: list[dict[str, Any]], mode: str) -> None:
        """``"update"``: upserts setting the fields given; ``"ignore"``: an unordered
        ``insert_many`` whose duplicate-key errors (code 11000) are expected."""
        if mode == "update":
            self._updates(collection, [({"_id": d["_id"]}, {"$set": _fields(d)}, True) for d in docs])
            return
        import pymongo.errors

        try:
            self.db[collection].insert_many(docs, ordered=False)
        except pymongo.errors.BulkWriteError as exc:
            if any(error.get("code") != 11000 for error in exc.details.get("writeErrors", [])):
                raise

    def bulk_update(self, collection: str, pairs: list[tuple[float, int]]) -> None:
        self._updates(collection, [({"_id": k}, {"$set": {"mag": m}}, False) for m, k in pairs])

    def _updates(self, collection: str, ops: list[tuple[dict[str, Any], dict[str, Any], bool]]) -> None:
        """``(filter, update, upsert)`` operations: one unordered ``bulk_write``, or one by one."""
        target = self.db[collection]
        if self.bulk_write:
            from pymongo import UpdateOne

            requests = [UpdateOne(f, u, upsert=up) for f, u, up in ops]
            size = self.update_chunk or len(requests) or 1
            for start in range(0, len(requests), size):
                target.bulk_write(requests[start : start + size], ordered=False)
            return
        for f, u, up in ops:
            target.update_one(f, u, upsert=up)

    def find_one(self, collection: str, key: int) -> Any:
        return self.db[collection].find_one({"_id": key})

    def page(self, collection: str, offset: int, limit: int) -> list[Any]:
        return list(self.db[collection].find({}, sort=[("_id", 1)], skip=offset, limit=limit))

    def keyset(self, collection: str, after: int, limit: int) -> list[Any]:
        return list(self.db[collection].find({"_id": {"$gt": after}}, sort=[("_id", 1)], limit=limit))

    def count(self, collection: str, limit: int | None = None) -> int:
        return self.db[collection].count_documents({}, **({} if limit is None else {"limit": limit}))

    def get_or_create(self, collection: str, doc: dict[str, Any]) -> Any:
        found = self.find_one(collection, doc["_id"])
        if found is not None:
            return found
        self.db[collection].insert_one(doc)
        return doc

    def stream(self, collection: str, batch: int) -> Iterator[Any]:
        yield from self.db[collection].find({}, sort=[("_id", 1)], batch_size=batch)


def _fields(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_id"}


def database_of(url: str) -> str:
    """The database named in a ``mongodb://host/name?options`` URL."""
    return url.rsplit("/", 1)[1].split("?", 1)[0]


def is_ferretdb(client: Any) -> bool:
    """Whether a pymongo client talks to FerretDB (its ``buildInfo`` says so)."""
    try:
        return any(key.startswith("ferretdb") for key in client.admin.command("buildInfo"))
    except Exception:  # mongomock and servers without buildInfo
        return False
