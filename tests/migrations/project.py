"""A throwaway dbp project (settings.py, a models module, MIGRATIONS_DIR) in a temporary directory.

Commands run either through click's ``CliRunner`` in this process or through
the installed ``dbp`` console script in a subprocess, so both paths are tested
with the same steps.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from db_plugins.cli import cli
from tests.servers import SQL_ENGINES

BIN = Path(sys.executable).parent
DBP = BIN / "dbp"
RUNNERS = ("cli", "process")


@dataclass
class Outcome:
    """What one ``dbp`` invocation did."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return f"exit {self.exit_code}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


def run_dbp(args: Sequence[str], *, runner: str, cwd: Path, env: dict[str, str] | None = None) -> Outcome:
    """Run ``dbp ARGS`` in ``cwd`` through ``runner`` (``"cli"``: CliRunner, ``"process"``: the console script)."""
    env = dict(env or {})
    if runner == "process":
        assert DBP.exists(), f"{DBP} is missing: pip install -e . creates it"
        full_env = {k: v for k, v in os.environ.items() if k != "DBP_SETTINGS"}
        full_env.update(env)
        done = subprocess.run(
            [str(DBP), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300, check=False
        )
        return Outcome(done.returncode, done.stdout, done.stderr)
    # CliRunner cannot change directories per call; settings are found through --settings
    # (or DBP_SETTINGS) instead, which the process runner leaves to ./settings.py discovery.
    if "--settings" not in args and "DBP_SETTINGS" not in env:
        args = ["--settings", str(cwd), *args]
    result = CliRunner().invoke(cli, list(args), env={"DBP_SETTINGS": None, **env}, catch_exceptions=False)
    return Outcome(result.exit_code, result.stdout, result.stderr)


def write_module(directory: Path, name: str, source: str) -> None:
    """Write module ``name`` into ``directory``; the next in-process import reads it afresh."""
    (directory / f"{name}.py").write_text(textwrap.dedent(source))
    shutil.rmtree(directory / "__pycache__", ignore_errors=True)
    sys.modules.pop(name, None)


class Project:
    """A project directory with its own settings, models module and migrations."""

    def __init__(self, root: Path, engine: str, url: str, runner: str = "cli") -> None:
        self.root = root
        self.engine = engine
        self.url = url
        self.runner = runner
        # A module name of its own, so in-process runs never see another test's models.
        self.models_module = "appmodels_" + secrets.token_hex(4)
        self.section = "SQL" if self.is_sql else "MONGO"

    @property
    def is_sql(self) -> bool:
        return self.engine in SQL_ENGINES

    @property
    def migrations_dir(self) -> Path:
        return self.root / ("migrations" if self.is_sql else "migrations/mongo")

    @property
    def versions_dir(self) -> Path:
        return self.migrations_dir / "versions" if self.is_sql else self.migrations_dir

    def write_settings(self, extra: str = "") -> None:
        models = f"{self.models_module}:Base" if self.is_sql else self.models_module
        self.root.joinpath("settings.py").write_text(
            f'DB_CONFIG = {{"{self.section}": {{"URL": {self.url!r}, "MODELS": {models!r}}}}}\n{extra}'
        )

    def write_models(self, source: str) -> None:
        """(Re)write the models module; later commands, in this process too, see the new version."""
        write_module(self.root, self.models_module, source)

    def dbp(self, *args: str, runner: str | None = None, env: dict[str, str] | None = None) -> Outcome:
        return run_dbp(args, runner=runner or self.runner, cwd=self.root, env=env)

    def ok(self, *args: str, runner: str | None = None) -> Outcome:
        """``dbp ARGS``, asserting exit 0."""
        outcome = self.dbp(*args, runner=runner)
        assert outcome.exit_code == 0, f"dbp {' '.join(args)}: {outcome}"
        return outcome

    def revisions(self) -> list[Path]:
        if not self.versions_dir.is_dir():
            return []
        return sorted(p for p in self.versions_dir.glob("*.py") if not p.name.startswith("__"))

    # -- looking at the database ------------------------------------------------

    @contextmanager
    def sql(self) -> Iterator[Any]:
        """A short-lived SQLAlchemy connection (closed at once: MariaDB DDL waits for open readers)."""
        import sqlalchemy as sa

        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as connection:
                yield connection
                connection.commit()
        finally:
            engine.dispose()

    @contextmanager
    def mongo(self) -> Iterator[Any]:
        """The pymongo (or mongomock) ``Database`` of the project."""
        import db_plugins

        with db_plugins.connect(self.url) as db:
            yield db.database

    def columns(self, table: str) -> set[str]:
        import sqlalchemy as sa

        with self.sql() as connection:
            return {column["name"] for column in sa.inspect(connection).get_columns(table)}

    def tables(self) -> set[str]:
        import sqlalchemy as sa

        with self.sql() as connection:
            return set(sa.inspect(connection).get_table_names())

    def indexes(self, table: str) -> set[str]:
        import sqlalchemy as sa

        with self.sql() as connection:
            return {index["name"] for index in sa.inspect(connection).get_indexes(table)}

    def scalar(self, statement: str) -> Any:
        import sqlalchemy as sa

        with self.sql() as connection:
            return connection.execute(sa.text(statement)).scalar()

    def execute(self, statement: str, params: Any = None) -> None:
        import sqlalchemy as sa

        with self.sql() as connection:
            connection.execute(sa.text(statement), params or {})


def migrate_twice_at_once(project: Project, revision_file: str, source: str, marker: Path) -> list[tuple[str, str]]:
    """Add a slow revision (``source`` touches ``$DBP_TEST_STARTED`` when it starts), run ``dbp migrate``,
    and start a second one while the first is inside that revision; both must exit 0.

    Returns the two processes' ``(stdout, stderr)``.
    """
    [initial] = project.revisions()
    (project.versions_dir / revision_file).write_text(source.format(down=initial.name.split("_", 1)[0]))
    env = {k: v for k, v in os.environ.items() if k != "DBP_SETTINGS"}
    env["DBP_TEST_STARTED"] = str(marker)

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(DBP), "migrate"], cwd=project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    first = start()
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert first.poll() is None, f"the first migrate ended before its revision started: {first.communicate()}"
        assert time.monotonic() < deadline, "the slow revision never started"
        time.sleep(0.02)
    second = start()  # the first holds the migration lock now
    outputs = [process.communicate(timeout=120) for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    return outputs
