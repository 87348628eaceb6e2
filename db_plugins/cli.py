"""The ``dbp`` command: parse options, call :mod:`db_plugins.commands`, turn errors into exit codes.

Exit codes: 0 success, 1 a user error (one line on stderr, no traceback
unless ``--verbose``) or ``dbp check`` finding differences, 2 a usage error.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from . import __version__, commands
from .config import load_settings, scrub
from .errors import ConfigError, DBPluginsError
from .registry import available_plugins

__all__ = ["cli", "main"]

T = TypeVar("T")


@dataclass
class State:
    settings_path: str | None
    verbose: bool
    quiet: bool = False
    #: Started as the ``dbp`` program (:func:`main`), not called by a program that keeps running.
    own_process: bool = False


class AliasedGroup(click.Group):
    """Finds ``make-migrations`` as ``make_migrations``: the documented name and its dashed spelling."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or super().get_command(ctx, cmd_name.replace("-", "_"))

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        _name, cmd, rest = super().resolve_command(ctx, args)
        return (cmd.name if cmd else _name), cmd, rest


class _ScrubbingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def _configure_logging(verbose: bool) -> None:
    """With ``--verbose``, log db_plugins' and Alembic's progress to this run's stderr."""
    for name in ("db_plugins", "alembic"):
        logger = logging.getLogger(name)
        # A previous run in this process (tests, an embedding program) left its handler behind.
        for old in [h for h in logger.handlers if isinstance(h.formatter, _ScrubbingFormatter)]:
            logger.removeHandler(old)
        logger.setLevel(logging.INFO if verbose else logging.NOTSET)
        if verbose:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(_ScrubbingFormatter("%(levelname)s [%(name)s] %(message)s"))
            logger.addHandler(handler)


def _one_line(text: str) -> str:
    return " ".join(scrub(text).split())


def run(work: Callable[[Any], T]) -> T:
    """Load the settings and call ``work(settings)``, turning errors into one line and exit 1."""
    ctx = click.get_current_context()
    state: State = ctx.find_object(State)  # type: ignore[assignment]
    try:
        settings = load_settings(state.settings_path)
        if state.own_process:
            _refuse_in_process(settings, ctx)
        return work(settings)
    except (click.exceptions.Exit, click.ClickException, click.Abort):
        raise
    except KeyboardInterrupt:
        click.echo("Interrupted", err=True)
        ctx.exit(130)
    except Exception as exc:
        if state.verbose:
            click.echo(scrub("".join(traceback.format_exception(exc))), err=True, nl=False)
        if isinstance(exc, DBPluginsError):
            message = _one_line(str(exc)) or type(exc).__name__
        else:
            message = f"unexpected {type(exc).__name__}: {_one_line(str(exc))}"
            if not state.verbose:
                message += " (run dbp -v ... for the traceback)"
        click.echo(f"Error: {message}", err=True)
        ctx.exit(1)
    raise AssertionError("unreachable")


def _refuse_in_process(settings: Any, ctx: click.Context) -> None:
    """An in-memory database dies with this process: whatever the command did would be lost, or read empty."""
    engine = ctx.params.get("engine")
    for name in [engine] if engine else list(settings.sections):
        config = settings.section(name)
        instead = config.in_process
        if instead:
            scheme = config.url.split("://", 1)[0] + "://"
            command = ctx.command.name
            raise ConfigError(
                f"{name}: {scheme} keeps its data only for one process: dbp {command} would start on an empty "
                f"database and what it writes would be lost; {instead}, or call db_plugins.commands.{command} "
                "in the process that uses the database"
            )


class SectionName(click.ParamType):
    """A ``DB_CONFIG`` section (plugin) name, case-insensitive: ``SQL``, ``MONGO``, or a third-party one."""

    name = "section"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "|".join(available_plugins())

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        name = str(value).upper()
        if name not in available_plugins():
            self.fail(f"{value!r} is not one of {', '.join(available_plugins())}", param, ctx)
        return name


engine_option = click.option(
    "--engine",
    type=SectionName(),
    default=None,
    help="Act on this DB_CONFIG section only (default: every configured section).",
)
_SETTINGS_HELP = "Settings file, or a directory holding settings.py (default: $DBP_SETTINGS, then ./settings.py)."
_VERBOSE_HELP = "Log progress, and show tracebacks of errors."
_QUIET_HELP = "No progress bars (drawn only when standard error is a terminal, or with DBP_PROGRESS=1)."


def _late_global(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """``dbp current --settings X`` / ``dbp migrate -v``: a global option given after the command."""
    if value is None or value is False:
        return
    state: State = ctx.find_object(State)  # type: ignore[assignment]
    if param.name == "settings_path":
        state.settings_path = value
    elif param.name == "quiet":
        state.quiet = True
    elif not state.verbose:
        state.verbose = True
        _configure_logging(True)


def command_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--engine``, and the global ``--settings`` and ``-v``, which work after the command name too."""
    late = {"expose_value": False, "callback": _late_global}
    for option in (
        click.option("-v", "--verbose", is_flag=True, help=_VERBOSE_HELP, **late),
        click.option("-q", "--quiet", is_flag=True, help=_QUIET_HELP, **late),
        click.option("--settings", "settings_path", metavar="PATH", help=_SETTINGS_HELP, **late),
        engine_option,
    ):
        command = option(command)
    return command


@click.group(cls=AliasedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--settings", "settings_path", metavar="PATH", help=_SETTINGS_HELP)
@click.option("-v", "--verbose", is_flag=True, help=_VERBOSE_HELP)
@click.option("-q", "--quiet", is_flag=True, help=_QUIET_HELP)
@click.version_option(__version__, "--version", prog_name="dbp", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, settings_path: str | None, verbose: bool, quiet: bool) -> None:
    """Create databases, manage migrations and dump/load data, from settings.DB_CONFIG."""
    own_process = isinstance(ctx.obj, State) and ctx.obj.own_process
    ctx.obj = State(settings_path, verbose, quiet, own_process)
    _configure_logging(verbose)


def _echo(line: str) -> None:
    click.echo(line)


@cli.command("initdb")
@command_options
def initdb(engine: str | None) -> None:
    """Create the models' tables/collections, scaffold MIGRATIONS_DIR, stamp head (idempotent)."""
    run(lambda settings: commands.initdb(settings, engine=engine, echo=_echo))


@cli.command("make_migrations")
@command_options
@click.option("-m", "--message", help="What the revision does (default: a summary of the changes).")
def make_migrations(engine: str | None, message: str | None) -> None:
    """Write a revision for what changed between the models and the database (alias: make-migrations)."""
    run(lambda settings: commands.make_migrations(settings, engine=engine, message=message, echo=_echo))


@cli.command("migrate", context_settings={"ignore_unknown_options": True})
@command_options
@click.argument("target", default="head")
def migrate(engine: str | None, target: str) -> None:
    """Apply revisions up to TARGET (default: head), holding the database's migration lock."""
    run(lambda settings: commands.migrate(settings, engine=engine, target=target, echo=_echo, progress=_progress()))


# ignore_unknown_options: a relative target such as -1 is an argument, not an option.
@cli.command("downgrade", context_settings={"ignore_unknown_options": True})
@command_options
@click.argument("target")
def downgrade(engine: str | None, target: str) -> None:
    """Revert revisions down to TARGET (a revision id, -1, or base)."""
    run(lambda settings: commands.downgrade(settings, target, engine=engine, echo=_echo, progress=_progress()))


@cli.command("history")
@command_options
def history(engine: str | None) -> None:
    """List the revisions, newest first, and whether each is applied."""
    run(lambda settings: commands.history(settings, engine=engine, echo=_echo))


@cli.command("current")
@command_options
def current(engine: str | None) -> None:
    """Show the revision the database is at."""
    run(lambda settings: commands.current(settings, engine=engine, echo=_echo))


@cli.command("check")
@command_options
def check(engine: str | None) -> None:
    """Exit 0 if the models match the migrations, else list the differences and exit 1."""
    differences = run(lambda settings: commands.check(settings, engine=engine, echo=_echo))
    if any(differences.values()):
        click.get_current_context().exit(1)


format_option = click.option(
    "--format",
    "file_format",
    type=click.Choice(["csv", "jsonl", "parquet"], case_sensitive=False),
    help="File format (default: from the extension: .csv, .jsonl/.ndjson, .parquet, optionally .gz; '-': jsonl).",
)
batch_option = click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=5000,
    show_default=True,
    help="Rows per batch read from the database or written per chunk.",
)


def _echo_err(line: str) -> None:
    click.echo(line, err=True)


@cli.command("dump")
@command_options
@click.argument("source")
@click.option("-o", "--output", required=True, metavar="FILE", help="File to write ('-': standard output).")
@click.option("--filter", "filter_by", metavar="JSON", help='A filter, e.g. \'{"ndet": {"$gte": 5}}\'.')
@click.option(
    "--order-by", multiple=True, metavar="FIELDS", help="Field names, '-field' for descending, comma-separated."
)
@format_option
@batch_option
def dump(
    engine: str | None,
    source: str,
    output: str,
    filter_by: str | None,
    order_by: tuple[str, ...],
    file_format: str | None,
    batch_size: int,
) -> None:
    """Stream the table or collection SOURCE (a model or table name) to a CSV, JSON Lines or Parquet file."""
    fields = [f.strip() for item in order_by for f in item.split(",") if f.strip()]
    run(
        lambda settings: commands.dump(
            settings,
            source,
            output,
            engine=engine,
            filter_by=filter_by,
            order_by=fields or None,
            file_format=file_format,
            batch_size=batch_size,
            progress=_progress(),
            echo=_echo_err if output == "-" else _echo,
        )
    )


@cli.command("load")
@command_options
@click.argument("file", metavar="FILE")
@click.argument("target")
@click.option(
    "--on-conflict",
    type=click.Choice(["error", "ignore", "update"]),
    default="error",
    show_default=True,
    help="A row whose key exists: fail, skip it, or update the stored row.",
)
@click.option(
    "--conflict-on",
    metavar="FIELD[,FIELD]",
    default=None,
    help="The unique key deciding whether a row exists (default: the primary key when the rows give it, "
    "else the one unique key they give).",
)
@click.option("--atomic", is_flag=True, help="Load in one transaction: all rows or none (SQL engines).")
@format_option
@batch_option
def load(
    engine: str | None,
    file: str,
    target: str,
    on_conflict: str,
    conflict_on: str | None,
    atomic: bool,
    file_format: str | None,
    batch_size: int,
) -> None:
    """Load FILE ('-': standard input) into the model TARGET, chunk by chunk, converting to its field types."""
    run(
        lambda settings: commands.load(
            settings,
            file,
            target,
            engine=engine,
            on_conflict=on_conflict,
            conflict_on=_fields(conflict_on),
            file_format=file_format,
            batch_size=batch_size,
            atomic=atomic,
            progress=_progress(),
            echo=_echo,
        )
    )


def _fields(value: str | None) -> list[str] | None:
    """``a,b`` as ``["a", "b"]`` (``None`` stays ``None``)."""
    if value is None:
        return None
    fields = [f.strip() for f in value.split(",")]
    if not all(fields):
        raise click.BadParameter(f"expected FIELD[,FIELD], got {value!r}", param_hint="--conflict-on")
    return fields


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``dbp`` console script."""
    cli.main(args=argv, prog_name="dbp", obj=State(None, False, own_process=True))


def _progress() -> bool:
    """Whether this run may draw progress bars (not ``-q``; see :func:`db_plugins.progress.wanted`)."""
    state: State = click.get_current_context().find_object(State)  # type: ignore[assignment]
    return not state.quiet


if __name__ == "__main__":  # python -m db_plugins.cli
    main()
