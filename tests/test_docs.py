"""The documentation builds without warnings, and its code samples run, so neither can rot.

Every page of ``docs/`` is walked in order, in a temporary directory of its own:

- a ```` ```python ```` block is executed (one namespace per page);
- a ```` ```{code-block} python ```` block with ``:caption: FILE`` is written to FILE
  (the tutorials' settings and models files);
- in a ```` ```sh ```` block, each line that starts with ``dbp`` is run by the
  installed ``dbp`` program, a process of its own as for a reader; it must exit
  0, or the status its comment names (``# exit 1: ...``). Other shell lines
  (installing, the README's commands, plain ``alembic``) are tested elsewhere or
  not at all;
- ``mongodb://localhost:27017/NAME`` is the test server's (``DBP_TEST_MONGO_URL``),
  in a database of this test's own (the page is skipped without that server);
- a block preceded by a MyST comment ``% skip-test: reason`` is skipped.

The quickstart page, and the README's Python samples, run in a copy of the
repository in the state a reader has after the README's main command (its
``broker.db`` filled by the example application).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.migrations.project import DBP
from tests.migrations.test_readme import REPO, after_main_command, readme_command
from tests.servers import fresh_database

DOCS = Path(__file__).resolve().parents[1] / "docs"
FENCE = re.compile(r"^```(\S*)\s*(.*)$")
EXIT = re.compile(r"#\s*exit (\d+)")
MONGO_URL = re.compile(r"mongodb://localhost:27017/(\w+)")


@dataclass
class Block:
    page: str
    line: int
    kind: str  # "python", "file", "sh"
    text: str
    file: str | None = None


def blocks(path: Path) -> list[Block]:
    """The runnable blocks of a Markdown page, in order."""
    lines = path.read_text().splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match or not match.group(1):
            i += 1
            continue
        lang, arg = match.group(1), match.group(2).strip()
        skip = i > 0 and lines[i - 1].startswith("% skip-test")
        start = i
        i += 1
        body: list[str] = []
        while not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        caption = None
        if lang == "{code-block}":
            options = [b for b in body if b.startswith(":")]
            body = body[len(options) :]
            caption = next((o.split(":", 2)[2].strip() for o in options if o.startswith(":caption:")), None)
            lang = arg
        text = "\n".join(body).strip("\n") + "\n"
        if skip:
            continue
        if lang == "python":
            out.append(Block(path.name, start + 1, "file" if caption else "python", text, caption))
        elif lang == "sh":
            out.append(Block(path.name, start + 1, "sh", text))
    return out


PAGES = sorted(p for p in DOCS.glob("*.md") if any(b.kind != "sh" or "dbp " in b.text for b in blocks(p)))


def forget(module: str) -> None:
    """A rewritten module file is read afresh by the next import in this process."""
    sys.modules.pop(module, None)


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_samples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if page.name in AFTER_MAIN_COMMAND:
        tmp_path = after_main_command(tmp_path / "repo")
    run_samples(page, tmp_path, monkeypatch)


#: Pages a reader reads after running the README's main command, in the state it leaves.
AFTER_MAIN_COMMAND = {"quickstart.md", "asyncio.md", "README.md"}


def test_readme_samples_run_after_the_main_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = REPO / "README.md"
    assert [b.kind for b in blocks(readme) if b.kind == "python"], "the README has a Python sample"
    run_samples(readme, after_main_command(tmp_path / "repo"), monkeypatch, kinds={"python"})


def run_samples(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kinds: set[str] | None = None) -> None:
    """Run the blocks of ``page`` (those of ``kinds``, default all) in order in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DBP_SETTINGS", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))  # the tutorials' models modules
    # A module of its own: SQLAlchemy resolves a model's annotations through sys.modules.
    module = types.ModuleType(f"docs_{page.stem.replace('-', '_')}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    written: list[str] = []
    stack = contextlib.ExitStack()
    servers: dict[str, str] = {}

    def on_server(text: str) -> str:
        """``text`` with each mongodb://localhost:27017/NAME as a fresh database of the test server."""

        def fresh(match: re.Match[str]) -> str:
            if match.group(1) not in servers:
                servers[match.group(1)] = stack.enter_context(fresh_database("mongodb", tmp_path))
            return servers[match.group(1)]

        return MONGO_URL.sub(fresh, text)

    try:
        for block in blocks(page):
            if kinds is not None and block.kind not in kinds:
                continue
            block.text = on_server(block.text)
            where = f"{page.name}:{block.line}"
            if block.kind == "file":
                assert block.file
                target = tmp_path / block.file
                target.write_text(block.text)
                shutil.rmtree(tmp_path / "__pycache__", ignore_errors=True)
                forget(Path(block.file).stem)
                written.append(Path(block.file).stem)
            elif block.kind == "python":
                exec(compile(block.text, where, "exec"), namespace)
            else:
                for line in block.text.splitlines():
                    if line.startswith("dbp "):
                        run_dbp_line(line, where, tmp_path)
    finally:
        stack.close()
        for module in written:
            forget(module)


def run_dbp_line(line: str, where: str, cwd: Path) -> None:
    expected = int(EXIT.search(line).group(1)) if EXIT.search(line) else 0
    args = shlex.split(line, comments=True)[1:]
    env = {k: v for k, v in os.environ.items() if k != "DBP_SETTINGS"}
    env["PYTHONPATH"] = os.pathsep.join([str(cwd), str(REPO)])  # the page's modules, and examples/
    done = subprocess.run([str(DBP), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == expected, f"{where}: {line}\n{done.stdout}{done.stderr}"


def test_quickstart_shows_the_readmes_commands() -> None:
    text = (DOCS / "quickstart.md").read_text()
    for marker in ("main-command", "test-command"):
        assert f"\n{readme_command(marker)}\n" in text, marker


def test_every_page_is_in_the_toctree() -> None:
    index = (DOCS / "index.md").read_text()
    listed = set(re.findall(r"^([\w-]+)$", index, re.MULTILINE))
    pages = {p.stem for p in DOCS.glob("*.md")} - {"index"}
    assert pages <= listed, pages - listed


@pytest.mark.slow
def test_sphinx_build_has_no_warnings(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "transfer.html").exists() and (tmp_path / "cli.html").exists()
