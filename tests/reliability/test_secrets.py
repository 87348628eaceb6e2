"""Secrets: no password in anything printed, logged, raised or shown, on any error path.

Two sweeps:

1. :func:`test_error_paths_in_process` drives every kind of failure with
   known passwords -- the shared servers' real one (``dbp_test_pw``) and a
   wrong one -- through the API and the CLI, with ``db_plugins``,
   ``sqlalchemy``, ``pymongo`` and ``alembic`` logging at DEBUG, and scans the
   captured output, the log records, every exception with its whole
   cause/context chain, and the ``repr`` of every object a user may print.
2. :func:`test_the_error_path_suites_leak_nothing` runs the suites made of
   error paths (the bad-input catalogue, the CLI error tests, the settings
   tests) in a child pytest with every logger at DEBUG into a file and every
   report written out (passed tests' captured output too), and scans all of it
   for every password those suites use.

Zero hits is the only pass.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import db_plugins
from db_plugins import commands
from db_plugins.config import load_settings, settings_from_dict
from tests.migrations.project import run_dbp
from tests.reliability.checks import SECRETS, WRONG_PASSWORD, debug_logs, exception_text, leaks
from tests.reliability.private import PASSWORD
from tests.servers import base_url, fresh_database

ROOT = Path(__file__).resolve().parents[2]


def _with_password(url: str, password: str) -> str:
    return sa.make_url(url).set(password=password).render_as_string(hide_password=False)


class Sweep:
    """Runs error paths, keeping everything they produced for the scan."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.paths = 0
        self.errors = 0

    def fails(self, name: str, call: Callable[[], Any]) -> None:
        """``call`` must raise a db_plugins error; its whole text is kept."""
        self.paths += 1
        try:
            call()
        except db_plugins.DBPluginsError as exc:
            self.errors += 1
            self.texts.append(f"[{name}] " + exception_text(exc))
        else:
            pytest.fail(f"{name}: no error")

    def show(self, *objects: Any) -> None:
        self.texts.extend(repr(o) + "\n" + str(o) for o in objects)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_error_paths_in_process(
    engine: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = Sweep()
    with fresh_database(engine, tmp_path) as url, debug_logs(caplog):
        assert PASSWORD in url  # the real password is in play
        parsed = sa.make_url(url)
        parts = {"ENGINE": parsed.drivername, "HOST": parsed.host, "USER": parsed.username,
                 "PASSWORD": PASSWORD, "PORT": parsed.port, "DB_NAME": parsed.database}  # fmt: skip
        # Connecting.
        sweep.fails("wrong password", lambda: db_plugins.connect(_with_password(url, WRONG_PASSWORD)))
        sweep.fails("wrong password, parts", lambda: db_plugins.connect({**parts, "PASSWORD": WRONG_PASSWORD}))
        sweep.fails("closed port", lambda: db_plugins.connect(sa.make_url(url).set(port=9).render_as_string(False)))
        sweep.fails("no such database", lambda: db_plugins.connect({**parts, "DB_NAME": "dbp_no_such_db"}))
        sweep.fails("bad driver option", lambda: db_plugins.connect(url + "?bogus_option=1"))
        sweep.fails("bad engine option", lambda: db_plugins.connect({"URL": url, "ENGINE_OPTIONS": {"bogus": 1}}))
        # Settings.
        for bad in ({"PORT": "5432"}, {"ENGINE": "oracle9"}, {"COLOUR": 1}, {"PASSWORD": 123456}, {"PORT": 0}):
            sweep.fails(f"settings {bad}", lambda b=bad: settings_from_dict({"SQL": {**parts, **b}}))
        sweep.fails("bad URL", lambda: settings_from_dict({"SQL": {"URL": url.replace(str(parsed.port), "port")}}))
        sweep.fails(
            "settings file",
            lambda: load_settings(_settings(tmp_path, f"DB_CONFIG = {{'SQL': {{'URL': {url!r}, 'X': 1}}}}")),
        )
        # Working, then failing: constraint errors, a killed session, migrations.
        with db_plugins.connect({"URL": url, "MODELS": "tests.contract.models_sql:Base"}) as db:
            from tests.contract.models_sql import Item

            db.create_db()
            q = db.query(Item)
            q.insert({"oid": "a"})
            sweep.fails("duplicate key", lambda: q.insert({"oid": "a"}))
            sweep.fails("value too long", lambda: q.insert({"oid": "x" * 100}))
            sweep.fails("bad filter", lambda: q.count({"$where": PASSWORD}))
            from tests.reliability.test_faults import kill_own_sessions

            def killed() -> None:
                with db.transaction():
                    q.count()
                    kill_own_sessions(url)
                    q.count()

            sweep.fails("killed session", killed)
            sweep.show(db, db.engine, db.engine.url, db.engine.pool, db.config, q, db.features, db.session)
            sweep.show(
                q.paginate(per_page=1),
                settings_from_dict({"SQL": parts}),
                settings_from_dict({"SQL": parts}).section("SQL"),
            )
        settings = load_settings(_settings(tmp_path, f"DB_CONFIG = {{'SQL': {{'URL': {url!r}}}}}"))
        sweep.fails("no migrations directory", lambda: commands.migrate(settings, echo=sweep.texts.append))
        commands.initdb(settings, echo=sweep.texts.append)
        sweep.fails(
            "unknown revision", lambda: commands.migrate(settings, target="feedfacecafe", echo=sweep.texts.append)
        )
        # The CLI, in this process and as a program, verbose or not.
        for settings_text in (f"DB_CONFIG = {{'SQL': {{'URL': {_with_password(url, WRONG_PASSWORD)!r}}}}}",
                              f"DB_CONFIG = {{'SQL': {{'URL': {url!r}}}}}"):  # fmt: skip
            _settings(tmp_path, settings_text)
            for args in (["initdb"], ["-v", "migrate", "feedfacecafe"], ["-v", "current"], ["-v", "history"]):
                for runner in ("cli", "process"):
                    outcome = run_dbp(args, runner=runner, cwd=tmp_path)
                    sweep.paths += 1
                    sweep.texts.append(outcome.output)
        out = capsys.readouterr()
        sweep.texts += [out.out, out.err, caplog.text]
        sweep.texts += [record.getMessage() for record in caplog.records]
    assert sweep.paths >= 30 and len(caplog.records) > 20  # the sweep saw a lot, at DEBUG
    found = leaks(sweep.texts, SECRETS)
    print(
        f"\n{engine}: {sweep.paths} error paths, {sweep.errors} exceptions, "
        f"{len(caplog.records)} log records scanned; secrets leaked: {len(found)}"
    )
    assert not found, f"leaked {found}"


@pytest.mark.slow
def test_mongo_error_paths_in_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = Sweep()
    server = base_url("mongodb")
    host = server.split("://", 1)[1].split("/", 1)[0]
    with debug_logs(caplog):
        for password in SECRETS:
            sweep.fails("credentials", lambda p=password: db_plugins.connect(f"mongodb://dbp:{p}@{host}/app"))
            sweep.fails(
                "closed port",
                lambda p=password: db_plugins.connect(
                    {"URL": f"mongodb://dbp:{p}@127.0.0.1:9/app", "SERVER_SELECTION_TIMEOUT_MS": 500}
                ),
            )
            parts = {"HOST": "127.0.0.1", "PORT": 9, "USERNAME": "dbp", "PASSWORD": password, "DATABASE": "app"}
            sweep.fails("parts", lambda p=parts: db_plugins.connect({**p, "SERVER_SELECTION_TIMEOUT_MS": 500}))
            for bad in ({"PORT": "x"}, {"FOO_BAR": 1}, {"SERVER_SELECTION_TIMEOUT_MS": "soon"}, {"DATABASE": "a.b"}):
                sweep.fails(f"settings {bad}", lambda b=bad, p=parts: settings_from_dict({"MONGO": {**p, **b}}))
            sweep.fails("bad URL", lambda p=password: settings_from_dict({"MONGO": {"URL": f"mongodb://u:{p}@h:x/d"}}))
            with db_plugins.connect(f"mongomock://dbp:{password}@localhost/app") as db:
                sweep.show(db, db.config, db.client, db.features, db.query(_mongo_item()))
        _settings(tmp_path, f"DB_CONFIG = {{'MONGO': {{'URL': 'mongodb://dbp:{PASSWORD}@{host}/app'}}}}")
        for args in (["initdb"], ["-v", "migrate"], ["-v", "current"]):
            for runner in ("cli", "process"):
                sweep.paths += 1
                sweep.texts.append(run_dbp(args, runner=runner, cwd=tmp_path).output)
        out = capsys.readouterr()
        sweep.texts += [out.out, out.err, caplog.text]
    assert sweep.paths >= 20 and caplog.records
    found = leaks(sweep.texts, SECRETS)
    print(
        f"\nmongodb: {sweep.paths} error paths, {len(caplog.records)} log records scanned; secrets leaked: {len(found)}"
    )
    assert not found, f"leaked {found}"


def _mongo_item() -> Any:
    from tests.contract.models_mongo import Item

    return Item


def _settings(directory: Path, text: str) -> Path:
    path = directory / "settings.py"
    path.write_text(text + "\n")
    return path


#: The suites made of error paths, and the passwords each of them uses.
SUITES = ["tests/test_bad_input.py", "tests/cli/test_errors.py", "tests/test_config.py"]
SUITE_SECRETS = (*SECRETS, "Pw-d0nt-l3ak-9z", "s3cr3t-Pa55")


@pytest.mark.slow
def test_the_error_path_suites_leak_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "DBP_LEAKSCAN_DIR": str(tmp_path)}
    done = subprocess.run(
        # (Not the runs of dbp as a subprocess: their output is checked by the tests themselves,
        # and the in-process sweep above runs the CLI both ways.)
        [sys.executable, "-m", "pytest", *SUITES, "-k", "not process", "-p", "tests.reliability.leakscan", "-rA",
         "-q", "-p", "no:cacheprovider", "-o", "log_level=DEBUG"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = (tmp_path / "log.txt").read_text(encoding="utf-8", errors="replace")
    reports = (tmp_path / "reports.txt").read_text(encoding="utf-8", errors="replace")
    # The scan saw the drivers' own DEBUG output and every test's report.
    assert " sqlalchemy." in log and " pymongo." in log and " db_plugins" in log
    passed = done.stdout.count("PASSED ")
    assert passed > 100 and reports.count("== ") >= 3 * passed
    found = leaks([done.stdout, done.stderr, log, reports], SUITE_SECRETS)
    print(f"\nsuites {SUITES}: {passed} tests passed, {len(log.splitlines())} log lines and "
          f"{len(reports.splitlines())} report lines scanned; secrets leaked: {len(found)}")  # fmt: skip
    assert not found, f"leaked {found}"
