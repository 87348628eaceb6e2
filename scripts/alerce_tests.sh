#!/usr/bin/env bash
# Run ALeRCE db-plugins 4.2.7's own tests against db_plugins.compat.alerce, OUTSIDE this
# repository, with only their imports changed, and print the pass rate per engine.
#
#   scripts/alerce_tests.sh [WORKDIR]          (default /tmp/alerce-run)
#
# ALERCE_REPO   a git repository of alercebroker/db-plugins holding ALERCE_COMMIT (default:
#               the tool mirror /work/.mirror/alercebroker+db-plugins/repo, else a clone from GitHub)
# ALERCE_COMMIT default 924ccbd506db4d9b83e48dd6107cbaa3090e5591 (its package equals the 4.2.7 wheel)
# DBP_TEST_POSTGRES_URL, DBP_TEST_MYSQL_URL, DBP_TEST_MONGO_URL  servers (eval "$(scripts/services.sh start)");
#               an engine whose URL is unset is left out.
#
# What is done to ALeRCE's files: module paths are rewritten (in imports and in mock.patch
# targets alike) from db_plugins.db.* to db_plugins.compat.alerce.*, and ALeRCE's astronomy
# models (db_plugins.db.{sql,mongo}.models) to minimal stand-ins written here. Nothing else.
# The harness (conftest.py) plays ALeRCE's docker-compose: the PostgreSQL URL its integration
# test hard-codes is redirected to a fresh database of the engine under test, and for FerretDB
# the mongomock clients of MongoQueryTest are replaced by clients of a fresh server database.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-/tmp/alerce-run}"
commit="${ALERCE_COMMIT:-924ccbd506db4d9b83e48dd6107cbaa3090e5591}"
repo="${ALERCE_REPO:-/work/.mirror/alercebroker+db-plugins/repo}"
python="${PYTHON:-python3}"

mkdir -p "$work"
if [ ! -d "$repo" ]; then
  repo="$work/alerce.git"
  [ -d "$repo" ] || git clone --quiet --bare https://github.com/alercebroker/db-plugins.git "$repo"
fi
rm -rf "$work/tests"
mkdir -p "$work/tests"
for f in tests/unittest/db/test_sql.py tests/unittest/db/test_mongo.py tests/integration/integration_test.py; do
  git --git-dir="$repo" show "$commit:$f" >"$work/tests/$(basename "$f")"
done

# The import change, and only it.
sed -i -E \
  -e 's/db_plugins\.db\.generic/db_plugins.compat.alerce/g' \
  -e 's/db_plugins\.db\.sql\.(connection|query)/db_plugins.compat.alerce.sql/g' \
  -e 's/db_plugins\.db\.mongo\.(connection|query|orm)/db_plugins.compat.alerce.mongo/g' \
  -e 's/db_plugins\.db\.sql\.models/alerce_standins.sql/g' \
  -e 's/db_plugins\.db\.mongo\.models/alerce_standins.mongo/g' \
  "$work"/tests/*.py

mkdir -p "$work/alerce_standins"
: >"$work/alerce_standins/__init__.py"
cat >"$work/alerce_standins/sql.py" <<'EOF'
"""Stand-in for ALeRCE's SQL Object: the columns its tests use, on the compat Base."""
from sqlalchemy import Boolean, Column, Float, Integer, String

from db_plugins.compat.alerce.sql import Base


class Object(Base):
    __tablename__ = "object"
    oid = Column(String(64), primary_key=True)
    ndethist = Column(Integer)
    ncovhist = Column(Integer)
    mjdstarthist = Column(Float)
    mjdendhist = Column(Float)
    corrected = Column(Boolean)
    stellar = Column(Boolean)
    ndet = Column(Integer)
    g_r_max = Column(Float)
    g_r_max_corr = Column(Float)
    g_r_mean = Column(Float)
    g_r_mean_corr = Column(Float)
    meanra = Column(Float)
    meandec = Column(Float)
    sigmara = Column(Float)
    sigmadec = Column(Float)
    deltajd = Column(Float)
    firstmjd = Column(Float)
    lastmjd = Column(Float)
    step_id_corr = Column(String(64))
EOF
cat >"$work/alerce_standins/mongo.py" <<'EOF'
"""Stand-ins for ALeRCE's Mongo models: the collections and fields its tests use."""
from pymongo import ASCENDING, DESCENDING, GEOSPHERE, IndexModel

from db_plugins.compat.alerce.mongo import BaseModel, BaseModelWithExtraFields, Field, SpecialField


def _key(name):
    return SpecialField(lambda **kw: kw.get(name) or kw["_id"])


class Object(BaseModel):
    __tablename__ = "object"
    __table_args__ = [IndexModel([("oid", ASCENDING)], name="oid"), IndexModel([("loc", GEOSPHERE)], name="radec")]
    _id = _key("aid")
    oid = Field()
    tid = Field()
    sid = Field()
    corrected = Field()
    stellar = Field()
    firstmjd = Field()
    lastmjd = Field()
    ndet = Field()
    meanra = Field()
    sigmara = Field()
    meandec = Field()
    sigmadec = Field()
    loc = SpecialField(lambda **kw: {"type": "Point", "coordinates": [kw["meanra"] - 180, kw["meandec"]]})
    probabilities = SpecialField(lambda **kw: kw.get("probabilities", []))


class _Photometry(BaseModelWithExtraFields):
    @classmethod
    def create_extra_fields(cls, **kwargs):
        extra = super().create_extra_fields(**kwargs)
        extra.pop("candid", None)
        return extra


class Detection(_Photometry):
    __tablename__ = "detection"
    __table_args__ = [IndexModel([("aid", ASCENDING), ("oid", ASCENDING)], name="aid_oid")]
    _id = _key("candid")
    aid = Field()
    oid = Field()
    mjd = Field()
    fid = Field()


class ForcedPhotometry(_Photometry):
    __tablename__ = "forced_photometry"
    __table_args__ = [IndexModel([("aid", ASCENDING), ("oid", ASCENDING)], name="aid_oid")]
    _id = _key("candid")
    aid = Field()
    oid = Field()
    mjd = Field()
    fid = Field()


class NonDetection(_Photometry):
    __tablename__ = "non_detection"
    __table_args__ = [IndexModel([("aid", ASCENDING), ("fid", ASCENDING), ("mjd", ASCENDING)], name="unique", unique=True)]
    _id = _key("candid")
    aid = Field()
    tid = Field()
    sid = Field()
    oid = Field()
    mjd = Field()
    fid = Field()
    diffmaglim = Field()


class Taxonomy(BaseModel):
    __tablename__ = "taxonomy"
    __table_args__ = [IndexModel([("classifier_name", ASCENDING), ("classifier_version", DESCENDING)], name="nv")]
    classifier_name = Field()
    classifier_version = Field()
    classes = Field()
EOF

cat >"$work/conftest.py" <<'EOF'
"""The harness: what ALeRCE's docker-compose and conftest provided, for one engine at a time.

ALERCE_SQL_URL: a server URL (or sqlite:///file) that stands for the PostgreSQL database the
integration test hard-codes; a fresh database is made on it and dropped afterwards.
ALERCE_MONGO_URL: a MongoDB/FerretDB URL; MongoQueryTest's mongomock clients become clients of
a fresh database on it.
"""
import os
import secrets

import pytest
import sqlalchemy as sa

ALERCE_URL = "postgresql://postgres:postgres@localhost:5432/postgres"
_target = {}


def _fresh_sql(url):
    if url.startswith("sqlite"):
        return url, lambda: None
    name = "dbp_alerce_" + secrets.token_hex(4)
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    quote = '"' if admin.dialect.name == "postgresql" else "`"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {quote}{name}{quote}")

    def drop():
        force = " WITH (FORCE)" if admin.dialect.name == "postgresql" else ""
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote}{name}{quote}{force}")
        admin.dispose()

    return sa.make_url(url).set(database=name).render_as_string(hide_password=False), drop


_make_url = sa.engine.url.make_url
_alerce = _make_url(ALERCE_URL)


def _redirecting_make_url(name_or_url):
    url = _make_url(name_or_url)
    if isinstance(name_or_url, str) and url == _alerce and "url" in _target:
        return _make_url(_target["url"])
    return url


# Before the tests import db_plugins (whose config module imports make_url by name): the URL
# the integration test hard-codes is answered by the database under test, as a DNS entry would.
sa.engine.url.make_url = sa.engine.make_url = sa.make_url = _redirecting_make_url

_sql = os.environ.get("ALERCE_SQL_URL")
if _sql:
    _target["url"], _drop_sql = _fresh_sql(_sql)
    import atexit

    atexit.register(_drop_sql)


@pytest.fixture(scope="session")
def psql_service():
    if "url" not in _target:
        pytest.skip("ALERCE_SQL_URL is not set")
    return _target["url"]


class _Prefixed:
    """A pymongo client whose databases have a fresh prefix (the tests name theirs 'database')."""

    def __init__(self, url, prefix):
        import pymongo

        self._client = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000)
        self._prefix = prefix

    def __getitem__(self, name):
        return self._client[self._prefix + name]

    def drop(self):
        for name in self._client.list_database_names():
            if name.startswith(self._prefix):
                self._client.drop_database(name)
        self._client.close()


@pytest.fixture(autouse=True)
def _mongo_server(monkeypatch):
    url = os.environ.get("ALERCE_MONGO_URL")
    if not url:
        yield
        return
    import mongomock

    clients = []

    def client(*args, **kwargs):
        clients.append(_Prefixed(url, "dbp_alerce_" + secrets.token_hex(3) + "_"))
        return clients[-1]

    monkeypatch.setattr(mongomock, "MongoClient", client)
    yield
    for made in clients:
        made.drop()
EOF

if [ ! -x "$work/.venv/bin/python" ]; then
  "$python" -m venv "$work/.venv"
fi
"$work/.venv/bin/pip" install -q -e "$here" pytest mongomock mock-alchemy psycopg2-binary PyMySQL

cd "$work"
run() {  # label, then pytest arguments
  local label="$1"
  shift
  local out="$work/result-$label.txt"
  "$work/.venv/bin/python" -m pytest -p no:cacheprovider -q -rfE -W ignore::DeprecationWarning "$@" >"$out" 2>&1 || true
  printf '%-28s %s\n' "$label" "$(tail -n 1 "$out")"
}

echo "ALeRCE db-plugins $commit tests against db_plugins.compat.alerce (details: $work/result-*.txt)"
ALERCE_SQL_URL="sqlite:///$work/alerce.db" run sqlite+mongomock tests/test_sql.py tests/test_mongo.py tests/integration_test.py
rm -f "$work/alerce.db"
if [ -n "${DBP_TEST_POSTGRES_URL:-}" ]; then
  ALERCE_SQL_URL="$DBP_TEST_POSTGRES_URL" run postgresql tests/integration_test.py
fi
if [ -n "${DBP_TEST_MYSQL_URL:-}" ]; then
  ALERCE_SQL_URL="$DBP_TEST_MYSQL_URL" run mysql tests/integration_test.py
fi
if [ -n "${DBP_TEST_MONGO_URL:-}" ]; then
  ALERCE_MONGO_URL="$DBP_TEST_MONGO_URL" run ferretdb tests/test_mongo.py -k MongoQueryTest
fi
