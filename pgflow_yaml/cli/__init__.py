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
from typer.core import TyperGroup

from pgflow_yaml.cli import admin, compile, db, definition, runs, schedules, worker
from pgflow_yaml.errors import PgflowError, one_line

COMMAND_MODULES = (definition, compile, db, admin, runs, schedules, worker)
TRACEBACK_ENV = "PGFLOW_TRACEBACK"


def report(exc: PgflowError, *, show_traceback: bool = False) -> int:
    """Print ``exc`` as ``pgflow`` reports an error (password redacted); return its exit status."""
    from pgflow_yaml.db import redact  # only now: it loads psycopg

    if show_traceback:
        typer.echo("".join(traceback.format_exception(exc)).rstrip(), err=True)
    typer.echo(f"error: {redact(one_line(str(exc)))}", err=True)
    return exc.exit_code


class _Boundary(TyperGroup):
    """The root command group: runs a command and turns a ``PgflowError`` into its report."""

    def invoke(self, ctx: Any) -> Any:  # ctx: typer's click Context (a private class)
        try:
            return super().invoke(ctx)
        except PgflowError as exc:
            code = report(exc, show_traceback=bool(ctx.params.get("show_traceback")))
            raise typer.Exit(code) from None


app = typer.Typer(
    name="pgflow",
    help="pgflow-yaml: flows in YAML/TOML, orchestrated inside PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_Boundary,
)


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
) -> None:
    """Options of every command (read by the error boundary)."""


for _module in COMMAND_MODULES:
    _module.register(app)


def main() -> None:
    """Run the ``pgflow`` command line."""
    app()
