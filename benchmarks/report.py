"""Markdown for the docs from one or more ``--out`` JSON files: ``python -m benchmarks.report A.json [B.json ...]``.

Each run's table is printed in order, followed by its notes and the run's
facts (command, sizes, machine, load before and after), so a page can quote
runs made separately (the SQL engines and FerretDB, say) together.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .harness import PACKAGES, Result, Target, check_targets, markdown_table


def load(path: Path) -> tuple[list[Result], dict[str, Any]]:
    """The results and metadata of a JSON report written by ``--out``."""
    payload = json.loads(path.read_text())
    fields = set(Result.__dataclass_fields__)
    results = []
    for item in payload["results"]:
        data = {k: v for k, v in item.items() if k in fields}
        if data.get("target"):
            data["target"] = Target(**data["target"])
        results.append(Result(**data))
    check_targets(results)
    return results, payload["meta"]


def describe(meta: dict[str, Any]) -> str:
    machine = meta["machine"]
    load_before = ", ".join(f"{x:.2f}" for x in machine["loadavg"])
    load_after = ", ".join(f"{x:.2f}" for x in meta["loadavg_after"])
    # mongomock's version says nothing about a server's figures.
    versions = ", ".join(f"{name} {machine[name]}" for name in PACKAGES if name in machine and name != "mongomock")
    return (
        f"`{meta['command']}` — started {meta['started']}, {meta['seconds']:.0f} s; "
        f"{machine['cpus']} CPUs, {machine.get('memory_gib', '?')} GiB, Python {machine['python']}, {versions}; "
        f"load average (1, 5, 15 min) {load_before} before, {load_after} after."
    )


def main(argv: list[str]) -> int:
    for name in argv[1:]:
        results, meta = load(Path(name))
        print(markdown_table(results))
        print()
        for note in meta.get("notes", []):
            print(f"Note: {note}\n")
        print(describe(meta))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
