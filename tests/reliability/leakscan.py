"""A pytest plugin for the secrets test: log everything at DEBUG to a file, record every failure's text.

``pytest -p tests.reliability.leakscan`` with ``DBP_LEAKSCAN_DIR`` set writes
``log.txt`` (every record of ``db_plugins``, ``sqlalchemy``, ``pymongo`` and
``alembic`` at DEBUG, whatever the tests capture) and ``reports.txt`` (the
full text of every test report, passed ones included, with their captured
output), for :mod:`tests.reliability.test_secrets` to scan.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.checks import LOGGERS

_handler: logging.Handler | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _handler
    directory = Path(os.environ["DBP_LEAKSCAN_DIR"])
    _handler = logging.FileHandler(directory / "log.txt", encoding="utf-8")
    _handler.setLevel(logging.DEBUG)
    _handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logging.getLogger().addHandler(_handler)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    directory = Path(os.environ["DBP_LEAKSCAN_DIR"])
    with open(directory / "reports.txt", "a", encoding="utf-8") as out:
        out.write(f"== {report.nodeid} {report.when} {report.outcome}\n")
        if report.longrepr is not None:
            out.write(str(report.longrepr) + "\n")
        for name, text in report.sections:
            out.write(f"-- {name}\n{text}\n")


def pytest_unconfigure(config: Any) -> None:
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
        _handler.close()
