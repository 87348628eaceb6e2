"""Progress bars on the terminal for long work (``dbp load``/``dump``/``migrate``), through tqdm.

A bar is drawn when the caller asks for one (the CLI: unless ``-q``) and standard
error is a terminal, or ``DBP_PROGRESS=1`` says to draw it anyway (``0``: never);
otherwise nothing is imported or drawn and each step costs one no-op call.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator

__all__ = ["PROGRESS_ENV", "bar", "wanted"]

#: ``DBP_PROGRESS=1`` draws bars where standard error is not a terminal; ``0`` never draws them.
PROGRESS_ENV = "DBP_PROGRESS"


def wanted() -> bool:
    """Whether bars may be drawn: standard error is a terminal, or ``DBP_PROGRESS=1``."""
    forced = os.environ.get(PROGRESS_ENV, "").strip()
    if forced:
        return forced not in ("0", "false", "no")
    return sys.stderr.isatty()


@contextlib.contextmanager
def bar(
    label: str, total: int | None = None, *, enabled: bool = True, unit: str = "it", unit_scale: bool = False
) -> Iterator[Callable[[int], object]]:
    """A bar on standard error for the block, yielding ``step(n)``; a no-op unless ``enabled`` and :func:`wanted`."""
    if not enabled or not wanted():
        yield _nothing
        return
    from tqdm import tqdm

    # Steps are whole chunks or revisions, so each may redraw (mininterval=0): a step is never hidden.
    with tqdm(
        total=total or None,
        desc=label,
        unit=unit,
        unit_scale=unit_scale,
        file=sys.stderr,
        leave=False,
        mininterval=0,
        miniters=1,
    ) as drawn:
        yield drawn.update


def _nothing(n: int = 1) -> None:
    return None
