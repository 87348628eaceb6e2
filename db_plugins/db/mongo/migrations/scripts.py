"""Reading revision files: loading each one and putting them in one line of descent."""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ....config import importable, scrub
from ....errors import MigrationError

__all__ = ["Script", "load_chain"]


@dataclass
class Script:
    """One revision file, loaded."""

    id: str
    down: str | None
    message: str
    path: Path
    module: Any


def _load(path: Path, base_dir: Path | None) -> Script:
    name = "_dbp_mongo_revision_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with importable(base_dir):  # a data migration may import the project's modules
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise MigrationError(f"{path}: cannot load revision: {type(exc).__name__}: {scrub(exc)}") from None
    revision, down = getattr(module, "revision", None), getattr(module, "down_revision", None)
    if not isinstance(revision, str) or not revision or not (down is None or isinstance(down, str)):
        raise MigrationError(f"{path}: expected revision = '<id>' and down_revision = '<id>' or None")
    for function in ("upgrade", "downgrade"):
        if not callable(getattr(module, function, None)):
            raise MigrationError(f"{path}: defines no {function}(db) function")
    message = (module.__doc__ or "").strip().splitlines()[0] if (module.__doc__ or "").strip() else ""
    return Script(revision, down, message, path, module)


def load_chain(directory: Path, base_dir: Path | None = None) -> list[Script]:
    """The revisions of ``directory`` from the first to the head (one line of descent)."""
    scripts: dict[str, Script] = {}
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        script = _load(path, base_dir)
        if script.id in scripts:
            raise MigrationError(f"{path}: revision {script.id} is also defined in {scripts[script.id].path.name}")
        scripts[script.id] = script
    children: dict[str | None, list[Script]] = {}
    for script in scripts.values():
        if script.down is not None and script.down not in scripts:
            raise MigrationError(f"{script.path}: down_revision {script.down!r} is not in {directory}")
        children.setdefault(script.down, []).append(script)
    chain: list[Script] = []
    parent: str | None = None
    while parent in children:
        following = children[parent]
        if len(following) > 1:
            names = ", ".join(sorted(s.id for s in following))
            raise MigrationError(
                f"{directory}: revisions {names} all follow {parent or 'the base'}; "
                "set their down_revision to make one line"
            )
        chain.append(following[0])
        parent = following[0].id
    if len(chain) != len(scripts):
        looping = ", ".join(sorted(set(scripts) - {script.id for script in chain}))
        raise MigrationError(f"{directory}: revisions {looping} form a loop")
    return chain
