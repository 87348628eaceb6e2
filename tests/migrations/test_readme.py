"""The README's main-job command works on a copy of the repository, so the README cannot rot.

The command is taken from README.md exactly as ``.ci/run`` takes the test
command. Its set-up steps (make a venv, activate it, ``pip install``) are
checked to be there and then stand in for this test's own installed
environment; every other step runs verbatim. ``DBP_TEST_README_FULL=1`` runs
the whole line, set-up included (it needs the package index).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.migrations.project import BIN

REPO = Path(__file__).resolve().parents[2]
SETUP_PREFIXES = ("python3 -m venv ", ". .venv/bin/activate", "pip install ")


def readme_command(marker: str) -> str:
    """The first line of the first fenced block after ``<!-- marker -->`` (as .ci/run's awk does)."""
    lines = (REPO / "README.md").read_text().splitlines()
    start = lines.index(f"<!-- {marker} -->")
    fence = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("```"))
    return lines[fence + 1].strip()


def copy_of_repository(target: Path) -> Path:
    """The repository's files (tracked, and new ones not ignored) without build products or local settings."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=False,
    )
    if listed.returncode == 0 and listed.stdout:
        for name in filter(None, listed.stdout.decode().split("\0")):
            source = REPO / name
            if source.is_file():
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name)
    else:  # not a git checkout
        ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.db", ".pytest_cache", ".ruff_cache")
        shutil.copytree(REPO, target, ignore=ignore, dirs_exist_ok=True)
        (target / "settings.py").unlink(missing_ok=True)
    return target


def run(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False
    )


def main_command_steps() -> list[str]:
    """The README's main command without its set-up steps (a venv, ``pip install``), checked to be there."""
    command = readme_command("main-command")
    steps = [step.strip() for step in command.split("&&")]
    setup = [step for step in steps if step.startswith(SETUP_PREFIXES)]
    rest = [step for step in steps if step not in setup]
    assert [step.split()[0] for step in setup] == ["python3", ".", "pip"], command
    assert rest == [
        "cp settings.py.example settings.py",
        "dbp initdb",
        "dbp migrate",
        "python examples/quickstart.py",
    ], command
    return rest


def installed_env() -> dict[str, str]:
    """The environment of a reader's shell: ``dbp`` and ``python`` of the installed package, no DBP_ variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBP_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def after_main_command(target: Path) -> Path:
    """A copy of the repository at ``target`` in the state a reader has after the README's main command."""
    checkout = copy_of_repository(target)
    done = run(" && ".join(main_command_steps()), checkout, installed_env())
    assert done.returncode == 0, done
    return checkout


def test_main_command_creates_migrates_and_prints_a_page(tmp_path: Path) -> None:
    rest = main_command_steps()
    checkout = copy_of_repository(tmp_path / "repo")
    assert not (checkout / "settings.py").exists()
    env = installed_env()
    done = run(" && ".join(rest), checkout, env)
    assert done.returncode == 0, done
    [revision] = (checkout / "migrations" / "versions").glob("*_initial_schema.py")
    rev = revision.name.split("_", 1)[0]
    assert "SQL: created tables: object, detection, probability" in done.stdout
    assert f"SQL: stamped at {rev}" in done.stdout
    assert f"SQL: already at {rev}; nothing to apply" in done.stdout
    assert "page 1 of 3 (25 objects with at least 3 detections):" in done.stdout
    assert "ZTF20aa00000  ndet=3" in done.stdout
    assert done.stderr == ""

    again = run(" && ".join(rest), checkout, env)  # a second run finds everything in place
    assert again.returncode == 0, again
    assert "already initialized" in again.stdout and "page 1 of 3" in again.stdout


@pytest.mark.skipif(not os.environ.get("DBP_TEST_README_FULL"), reason="set DBP_TEST_README_FULL=1 (needs PyPI)")
def test_main_command_verbatim(tmp_path: Path) -> None:
    checkout = copy_of_repository(tmp_path / "repo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBP_", "VIRTUAL_ENV"))}
    done = run(readme_command("main-command"), checkout, env)
    assert done.returncode == 0, done
    assert "page 1 of 3" in done.stdout


def uncomment_mongo_section(example: str, url: str, database: str) -> str:
    """settings.py.example with its commented MONGO section switched on, pointed at ``url``."""
    lines = example.splitlines()
    start = lines.index('    # "MONGO": {')
    end = lines.index("    # },", start)
    for i in range(start, end + 1):
        lines[i] = lines[i].replace("# ", "", 1)
    text = "\n".join(lines) + "\n"
    assert '"URL": "mongodb://localhost:27017"' in text and '"DATABASE": "broker"' in text
    return text.replace('"mongodb://localhost:27017"', repr(url)).replace(
        '"DATABASE": "broker"', f'"DATABASE": {database!r}'
    )


@pytest.mark.parametrize("engine", ["mongodb", "mongomock"])
def test_example_on_mongo_with_its_committed_migrations(tmp_path: Path, engine: str) -> None:
    """The commented MONGO section of settings.py.example, switched on, runs the same quickstart
    (on a server; pointed at mongomock, the dbp program refuses it)."""
    from tests.servers import fresh_database

    with fresh_database(engine, tmp_path) as url:
        base, _, database = url.rpartition("/")
        checkout = copy_of_repository(tmp_path / "repo")
        example = (checkout / "settings.py.example").read_text()
        (checkout / "settings.py").write_text(uncomment_mongo_section(example, base, database))
        env = {k: v for k, v in os.environ.items() if not k.startswith("DBP_")}
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        done = run(
            "dbp initdb --engine MONGO && dbp migrate --engine MONGO && python examples/quickstart.py --engine MONGO",
            checkout,
            env,
        )
        if engine == "mongomock":  # each dbp run is a process of its own: refused, saying why
            assert done.returncode == 1 and "mongomock:// keeps its data only for one process" in done.stderr, done
            return
        assert done.returncode == 0, done
        [revision] = (checkout / "migrations" / "mongo").glob("*_initial_schema.py")
        assert f"MONGO: stamped at {revision.name.split('_', 1)[0]}" in done.stdout
        assert "page 1 of 3 (25 objects with at least 3 detections):" in done.stdout
        assert not list((checkout / "migrations" / "mongo").glob("*.py"))[1:]  # initdb wrote no new revision


def test_ci_runs_the_readme_commands_and_the_slow_tests() -> None:
    """.ci/run: the README's test command (fast tests in parallel), its main command verbatim, the slow tests."""
    ci = (REPO / ".ci" / "run").read_text()
    assert "export DBP_TEST_README_FULL=1" in ci and "export DBP_REQUIRE_SERVERS=1" in ci
    assert 'bash -c "$test_command"' in ci
    assert "slow_command='python -m pytest -n 4 --dist loadgroup -m slow'" in ci
    assert readme_command("test-command").endswith('python -m pytest -n 4 -m "not slow"')
