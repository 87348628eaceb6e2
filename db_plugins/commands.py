"""One function per ``dbp`` command, usable from Python as well as from the CLI.

Each takes loaded :class:`~db_plugins.config.Settings`, an optional ``engine``
(the ``DB_CONFIG`` section to act on; every configured section when ``None``)
and an ``echo`` callback that receives each line of progress; each returns a
dict ``{section: result}``. The work is done by the section plugin's
migration backend (``plugin.migrations(config, settings)``)::

    from db_plugins import commands
    from db_plugins.config import load_settings

    settings = load_settings("settings.py")
    commands.initdb(settings)
    commands.migrate(settings, engine="SQL")
    if commands.check(settings)["SQL"]:
        raise SystemExit("models and migrations differ")
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from . import progress as progress_bars
from . import transfer
from .config import Settings
from .errors import ConfigError
from .migrations import Echo, MigrationBackend, Revision
from .registry import get_plugin

__all__ = [
    "initdb",
    "make_migrations",
    "migrate",
    "downgrade",
    "history",
    "current",
    "check",
    "dump",
    "load",
    "backends",
]

T = TypeVar("T")


def backends(settings: Settings, engine: str | None = None, echo: Echo = print) -> list[MigrationBackend]:
    """The migration backend of section ``engine``, or of every configured section in order."""
    names = [engine.upper()] if engine else list(settings.sections)
    out = []
    for name in names:
        config = settings.section(name)
        backend = get_plugin(config.plugin).migrations(config, settings)
        backend.echo = echo
        out.append(backend)
    return out


def _each(settings: Settings, engine: str | None, echo: Echo, work: Callable[[MigrationBackend], T]) -> dict[str, T]:
    return {backend.config.section: work(backend) for backend in backends(settings, engine, echo)}


def initdb(settings: Settings, engine: str | None = None, echo: Echo = print) -> dict[str, bool]:
    """Create the models' tables/collections and indexes, scaffold ``MIGRATIONS_DIR`` and stamp head.

    Idempotent: a database that is already stamped is left alone. The result
    says, per section, whether anything changed.
    """
    done = {}
    for backend in backends(settings, engine, echo):
        done[backend.config.section] = backend.initdb()
        if backend.config.models is None:
            echo(f"{backend.config.section}: {_no_models(backend)}: only the migrations were set up")
    return done


def make_migrations(
    settings: Settings, engine: str | None = None, message: str | None = None, echo: Echo = print
) -> dict[str, Path | None]:
    """Write a revision for what changed between the models and the database.

    The result is, per section, the new revision file, or ``None`` when
    nothing changed (and no file was written).
    """
    for backend in backends(settings, engine, echo):
        if backend.config.models is None:  # an empty model set would read as "drop every table"
            raise ConfigError(f"{backend.config.section}: {_no_models(backend)}: there is nothing to compare")
    return _each(settings, engine, echo, lambda b: b.make_migrations(message))


def _no_models(backend: MigrationBackend) -> str:
    section = backend.config.section
    example = "'myapp.models:Base' (a declarative base)" if backend.config.plugin == "SQL" else "'myapp.models'"
    return (
        f"no models configured (set DB_CONFIG[{section!r}]['MODELS'] to the module that holds them, such as {example})"
    )


def migrate(
    settings: Settings, engine: str | None = None, target: str = "head", echo: Echo = print, progress: bool = False
) -> dict[str, list[str]]:
    """Apply revisions up to ``target`` (default: head) under the database's migration lock.

    The result lists, per section, the revision ids applied, in order.
    ``progress`` draws a bar of the revisions on standard error when it is a terminal.
    """
    return _each(
        settings,
        engine,
        echo,
        lambda b: _counted(b, "migrating", progress, lambda: b.migrate(target), target == "head"),
    )


def downgrade(
    settings: Settings, target: str, engine: str | None = None, echo: Echo = print, progress: bool = False
) -> dict[str, list[str]]:
    """Revert revisions down to ``target`` (a revision id, ``-1``, or ``base``) under the migration lock.

    The result lists, per section, the revision ids reverted, in order.
    ``progress`` draws a bar of the revisions on standard error when it is a terminal.
    """
    return _each(
        settings, engine, echo, lambda b: _counted(b, "reverting", progress, lambda: b.downgrade(target), False)
    )


def _counted(backend: MigrationBackend, verb: str, enabled: bool, work: Callable[[], T], to_head: bool) -> T:
    """``work()`` with a bar counting the revisions ``backend`` applies or reverts."""
    if not (enabled and progress_bars.wanted()):
        return work()
    # The number pending is known up to head; any other target counts up without a total.
    total = None
    if to_head:
        total = sum(1 for revision in backend.history() if not revision.applied) or None
    with progress_bars.bar(f"{backend.config.section}: {verb}", total, unit="revision") as step:
        backend.on_revision = lambda revision: step(1)
        try:
            return work()
        finally:
            backend.on_revision = None


def history(settings: Settings, engine: str | None = None, echo: Echo = print) -> dict[str, list[Revision]]:
    """Every revision, newest first, and whether the database has it applied."""

    def show(backend: MigrationBackend) -> list[Revision]:
        revisions = backend.history()
        if not revisions:
            backend.say(f"no revisions in {backend.relative(backend.directory)}")
        for revision in revisions:
            backend.say(revision.describe())
        return revisions

    return _each(settings, engine, echo, show)


def current(settings: Settings, engine: str | None = None, echo: Echo = print) -> dict[str, list[str]]:
    """The revision ids each database is at (an empty list: none applied)."""

    def show(backend: MigrationBackend) -> list[str]:
        heads = backend.current()
        backend.say(", ".join(heads) if heads else "no revision applied")
        return heads

    return _each(settings, engine, echo, show)


def check(settings: Settings, engine: str | None = None, echo: Echo = print) -> dict[str, list[str]]:
    """Compare the models with the migrated database, for CI.

    The result lists, per section, the differences; all lists empty means the
    models match the migrations.
    """

    def show(backend: MigrationBackend) -> list[str]:
        differences = backend.check()
        if differences:
            backend.say(f"{len(differences)} difference(s) between the models and the migrations:")
            for difference in differences:
                backend.say(f"  {difference}")
        else:
            backend.say("the models match the migrations")
        return differences

    return _each(settings, engine, echo, show)


def dump(
    settings: Settings,
    source: str,
    output: str | os.PathLike[str],
    engine: str | None = None,
    filter_by: Any = None,
    order_by: Any = None,
    file_format: str | None = None,
    batch_size: int = transfer.BATCH_SIZE,
    progress: bool = False,
    echo: Echo = print,
) -> dict[str, int]:
    """Stream the table or collection ``source`` to ``output`` (CSV, JSON Lines, Parquet; ``-``: stdout).

    ``source`` is a model's class or table name in ``MODELS``, or any table
    (collection) of the database; ``filter_by`` is a filter dict or its JSON
    text. The result is ``{section: rows written}``. See :mod:`db_plugins.transfer`.
    """
    with transfer.open_table(settings, source, engine) as (section, table):
        rows = transfer.dump(
            table,
            output,
            filter_by=filter_by,
            order_by=order_by,
            file_format=file_format,
            batch_size=batch_size,
            progress=progress,
        )
        echo(f"{section}: dumped {rows} row{'' if rows == 1 else 's'} of {table.name} to {transfer.shown(output)}")
    return {section: rows}


def _on_primary(table: Any) -> contextlib.AbstractContextManager[Any]:
    """Every command but ``dump`` reads the primary: a replica may not hold the rows just written."""
    query = getattr(table, "query", None)
    return query.connection.primary() if query is not None else contextlib.nullcontext()


def load(
    settings: Settings,
    file: str | os.PathLike[str],
    target: str,
    engine: str | None = None,
    on_conflict: str = "error",
    conflict_on: str | Sequence[str] | None = None,
    file_format: str | None = None,
    batch_size: int = transfer.BATCH_SIZE,
    atomic: bool = False,
    progress: bool = False,
    echo: Echo = print,
) -> dict[str, transfer.LoadReport]:
    """Load ``file`` into the model ``target``, a chunk per ``bulk_insert(on_conflict=..., conflict_on=...)``.

    Values are converted to the target's field types. The result is
    ``{section: LoadReport}`` (rows read, written, skipped); on an error the
    rows written so far are reported through ``echo`` before it propagates.
    See :func:`db_plugins.transfer.load`.
    """
    with transfer.open_table(settings, target, engine) as (section, table), _on_primary(table):
        report = transfer.load(
            table,
            file,
            on_conflict=on_conflict,
            conflict_on=conflict_on,
            file_format=file_format,
            batch_size=batch_size,
            atomic=atomic,
            progress=progress,
            echo=lambda line: echo(f"{section}: {line}"),
        )
        echo(f"{section}: loaded {transfer.shown(file, '<stdin>')} into {table.name}: {report}")
    return {section: report}
