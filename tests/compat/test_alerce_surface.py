"""The names 4.x code imports (and patches) exist where the import change sends them.

``scripts/alerce_tests.sh`` maps 4.x module paths onto these modules; a refactor
dropping one of the names would break code ported by that mapping.
"""

from __future__ import annotations

import importlib
import subprocess
from pathlib import Path

import pytest

SURFACE = {
    "db_plugins.compat.alerce": [
        "new_DBConnection",
        "DatabaseCreator",
        "DatabaseConnection",
        "Pagination",
        "PaginationNoCount",
    ],
    "db_plugins.compat.alerce.sql": [
        "SQLConnection",
        "SQLDatabaseCreator",
        "SQLQuery",
        "Base",
        "Pagination",
        "create_engine",
        "sessionmaker",
        "scoped_session",
        "insert",  # 4.x tests patch query.insert
    ],
    "db_plugins.compat.alerce.mongo": [
        "MongoConnection",
        "MongoDatabaseCreator",
        "MongoQuery",
        "CollectionNotFound",
        "_MongoConfig",
        "BaseModel",
        "BaseModelWithExtraFields",
        "Field",
        "SpecialField",
        "ModelMetaClass",
        "MongoClient",  # 4.x tests patch connection.MongoClient
    ],
}


@pytest.mark.parametrize("module", sorted(SURFACE))
def test_4x_names_are_there(module: str) -> None:
    loaded = importlib.import_module(module)
    assert [name for name in SURFACE[module] if not hasattr(loaded, name)] == []


def test_methods_4x_code_calls_or_patches() -> None:
    from db_plugins.compat.alerce.mongo import MongoConnection, MongoQuery
    from db_plugins.compat.alerce.sql import SQLConnection, SQLQuery

    wanted = {
        SQLConnection: ["connect", "create_session", "end_session", "create_db", "drop_db", "query"],
        SQLQuery: [
            "check_exists",
            "get_or_create",
            "update",
            "bulk_insert",
            "paginate",
            "find",
            "find_one",
            "find_all",
        ],
        MongoConnection: ["connect", "create_db", "drop_db", "query"],
        MongoQuery: [
            "init_collection",
            "check_exists",
            "get_or_create",
            "update",
            "bulk_update",
            "bulk_insert",
            "paginate",
            "find_one",
            "find_all",
        ],
    }
    assert {
        cls.__name__: [m for m in names if not callable(getattr(cls, m, None))] for cls, names in wanted.items()
    } == {cls.__name__: [] for cls in wanted}


def test_the_outside_run_script_parses() -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "alerce_tests.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
