"""What every plugin's migration backend provides to :mod:`db_plugins.commands`.

A plugin's ``migrations(config, settings)`` returns a :class:`MigrationBackend`
for one ``DB_CONFIG`` section; the commands call its methods and print what it
says through :attr:`MigrationBackend.echo`. The pieces shared by every engine
live here too: the :class:`Revision` record, revision ids and file names, and
an inter-process :func:`file_lock`.
"""

from __future__ import annotations

import abc
import contextlib
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import SectionConfig, scrub
from .errors import MigrationError

__all__ = [
    "Echo",
    "Revision",
    "MigrationBackend",
    "new_revision_id",
    "slugify",
    "summarize",
    "file_lock",
    "LOCK_TIMEOUT",
]

Echo = Callable[[str], None]

#: Seconds a migration command waits for another one to release the migration lock.
LOCK_TIMEOUT = 600.0


@dataclass(frozen=True)
class Revision:
    """One revision of a migrations directory, as ``dbp history`` shows it."""

    id: str
    down_revisions: tuple[str, ...]
    message: str
    path: Path | None = None
    is_head: bool = False
    #: Whether the database has it applied (``None`` when the database was not asked).
    applied: bool | None = None

    def describe(self) -> str:
        """``<id> <message> (head) [applied]`` in one line."""
        marks = []
        if self.is_head:
            marks.append("head")
        if self.applied is not None:
            marks.append("applied" if self.applied else "pending")
        parents = ", ".join(self.down_revisions) or "<base>"
        return f"{parents} -> {self.id} ({', '.join(marks)}): {self.message}"


class MigrationBackend(abc.ABC):
    """Migrations of one ``DB_CONFIG`` section; one subclass per plugin.

    Every method acts on the database and ``MIGRATIONS_DIR`` of :attr:`config`,
    reports through :meth:`say`, and raises :class:`~db_plugins.MigrationError`
    (or another :class:`~db_plugins.DBPluginsError`) with a one-line message
    for anything the user must fix.
    """

    def __init__(self, config: SectionConfig, settings: Any = None, echo: Echo | None = None) -> None:
        self.config = config
        self.settings = settings
        self.echo: Echo = echo or print
        #: Told the id of each revision as it is applied or reverted (a progress bar), if set.
        self.on_revision: Callable[[str], object] | None = None

    def revision_done(self, revision: str) -> None:
        """Tell :attr:`on_revision` that ``revision`` was just applied or reverted."""
        if self.on_revision is not None:
            self.on_revision(revision)

    @property
    def directory(self) -> Path:
        """The section's ``MIGRATIONS_DIR`` (absolute)."""
        assert self.config.migrations_dir is not None
        return self.config.migrations_dir

    def say(self, text: str) -> None:
        """Report ``text`` prefixed with the section name, passwords masked."""
        self.echo(scrub(f"{self.config.section}: {text}"))

    def relative(self, path: Path) -> str:
        """``path`` relative to the project (the settings file's directory) when it is inside it."""
        base = self.config.base_dir
        try:
            return str(path.relative_to(base)) if base else str(path)
        except ValueError:
            return str(path)

    @abc.abstractmethod
    def initdb(self) -> bool:
        """Create the models' tables/collections, scaffold ``MIGRATIONS_DIR``, stamp head.

        Returns whether anything changed (``False`` on a second run).
        """

    @abc.abstractmethod
    def make_migrations(self, message: str | None = None) -> Path | None:
        """Write a revision for what differs between the models and the database; its path, or ``None``."""

    @abc.abstractmethod
    def migrate(self, target: str = "head") -> list[str]:
        """Apply revisions up to ``target`` under the migration lock; the ids applied, in order."""

    @abc.abstractmethod
    def downgrade(self, target: str) -> list[str]:
        """Revert revisions down to ``target`` under the migration lock; the ids reverted, in order."""

    @abc.abstractmethod
    def history(self) -> list[Revision]:
        """Every revision, newest first, marked applied or pending."""

    @abc.abstractmethod
    def current(self) -> list[str]:
        """The revision ids the database is at (empty when it has none applied)."""

    @abc.abstractmethod
    def check(self) -> list[str]:
        """The differences between the models and the migrated database (empty when none)."""

    def require_directory(self) -> None:
        """Refuse to work on a ``MIGRATIONS_DIR`` that ``dbp initdb`` has not made."""
        if not self.directory.is_dir():
            raise MigrationError(
                f"{self.config.section}: no migrations directory at {self.directory} (run dbp initdb first)"
            )


def new_revision_id() -> str:
    """A fresh 12-hex-digit revision id (the same shape Alembic uses)."""
    return uuid.uuid4().hex[-12:]


def slugify(message: str, length: int = 40) -> str:
    """A file-name-safe form of a revision message."""
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")
    return slug[:length].rstrip("_") or "revision"


def summarize(descriptions: list[str], limit: int = 72) -> str:
    """A default revision message: the first change, and how many more, in at most ``limit`` characters."""
    more = len(descriptions) - 1
    suffix = f" (+{more} more)" if more else ""
    first = descriptions[0]
    if len(first) + len(suffix) > limit:
        first = first[: limit - len(suffix) - 3].rstrip() + "..."
    return first + suffix


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, timeout: float = LOCK_TIMEOUT, what: str = "migration lock") -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if missing) across processes.

    Used where the database has no lock of its own to offer (a SQLite file).
    The operating system releases the lock if the holder dies, so a crashed
    run never leaves it stuck; the file is removed when its holder is done
    (except on Windows, where an open file cannot be removed).
    """
    deadline = time.monotonic() + timeout
    while True:
        handle = open(path, "a+b")  # noqa: SIM115 - held open past this block
        try:
            while not _try_lock(handle):
                if time.monotonic() > deadline:
                    raise MigrationError(f"could not take the {what} ({path}) within {timeout:g} s")
                time.sleep(0.05)
            # The holder we waited for removed the file: a newcomer may lock a new one at that path.
            if _same_file(handle, path):
                break
        except BaseException:
            handle.close()
            raise
        handle.close()
    try:
        yield
    finally:
        try:
            if os.name != "nt":
                with contextlib.suppress(OSError):
                    os.unlink(path)  # still holding the lock, so no one else holds this file
            _unlock(handle)
        finally:
            handle.close()


def _same_file(handle: Any, path: str | os.PathLike) -> bool:
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(handle.fileno())
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(handle: Any) -> bool:
        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(handle: Any) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(handle: Any) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(handle: Any) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
