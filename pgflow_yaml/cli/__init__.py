"""The ``pgflow`` command line: a thin typer shell over plain functions.

Each command module has a ``register(app)`` function; ``COMMAND_MODULES`` lists them in the
order ``pgflow --help`` shows them. What several commands share is in ``cli.common``; nothing
below this package imports typer or rich.

The error boundary is here, once: a ``PgflowError`` raised by any command ends it with one
line on stderr (``error: ...``) and the exception's exit status, never a traceback unless
``--traceback`` or ``PGFLOW_TRACEBACK=1`` asks for one. Any other exception is a bug and keeps
its traceback.
"""

from __future__ import annotations

import traceback
from typing import Annotated, Any

import typer

from pgflow_yaml import __version__
from pgflow_yaml.cli import (
    admin,
    compile,
    db,
    definition,
    flows,
    runs,
    schedules,
    signals,
    ui,
    worker,
)
from pgflow_yaml.cli.common import HELP_WIDTH, HelpGroup, plain_help
from pgflow_yaml.errors import PgflowError, one_line

COMMAND_MODULES = (definition, compile, db, admin, flows, runs, schedules, signals, worker, ui)
TRACEBACK_ENV = "PGFLOW_TRACEBACK"


def report(exc: PgflowError, *, show_traceback: bool = False) -> int:
    """Print ``exc`` as ``pgflow`` reports an error (password redacted); return its exit status."""
    from pgflow_yaml.db import redact  # only now: it loads psycopg

    if show_traceback:
        typer.echo("".join(traceback.format_exception(exc)).rstrip(), err=True)
    typer.echo(f"error: {redact(one_line(str(exc)))}", err=True)
    return exc.exit_code


class _Boundary(HelpGroup):
    """The root command group: runs a command and turns a ``PgflowError`` into its report.

    Its help, and every command's, is click's plain text (wrapped to the terminal, never cut),
    with one placeholder style (``plain_help``).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        plain_help(self)

    def invoke(self, ctx: Any) -> Any:  # ctx: typer's click Context (a private class)
        try:
            return super().invoke(ctx)
        except PgflowError as exc:
            code = report(exc, show_traceback=bool(ctx.params.get("show_traceback")))
            raise typer.Exit(code) from None


HELP = """pgflow-yaml: flows in YAML/TOML, orchestrated inside PostgreSQL.

Exit status: 0 success; 1 failure (an invalid flow, a failed run, a refused install); 2 misuse
or an environment that cannot be used (no server, a refused login, no pgflow core there). Each
command's help says more.
"""

app = typer.Typer(
    name="pgflow",
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": HELP_WIDTH},
    cls=_Boundary,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"pgflow-yaml {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    show_traceback: Annotated[
        bool,
        typer.Option(
            "--traceback",
            envvar=TRACEBACK_ENV,
            help="Show the traceback of an error too.",
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            expose_value=False,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Options of every command (read by the error boundary)."""


for _module in COMMAND_MODULES:
    _module.register(app)


def main() -> None:
    """Run the ``pgflow`` command line."""
    app()
