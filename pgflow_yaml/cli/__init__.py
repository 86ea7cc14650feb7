"""The ``pgflow`` command line: a thin typer shell over plain functions.

Each command group lives in its own module and registers itself on ``app``; nothing below
this package imports typer or rich.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="pgflow",
    help="pgflow-yaml: flows in YAML/TOML, orchestrated inside PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command modules register themselves on import (one line per module).
from pgflow_yaml.cli import definition as _definition  # noqa: E402, F401, I001 (help order)
from pgflow_yaml.cli import compile as _compile  # noqa: E402, F401
from pgflow_yaml.cli import db as _db  # noqa: E402, F401
from pgflow_yaml.cli import admin as _admin  # noqa: E402, F401
from pgflow_yaml.cli import worker as _worker  # noqa: E402, F401 (also registers cli.runs)


def main() -> None:
    """Run the ``pgflow`` command line.

    A database that cannot be reached or started ends any command with one line and exit
    status 2, never a traceback.
    """
    try:
        app()
    except Exception as exc:
        from pgflow_yaml.db import DatabaseError  # only now: it loads psycopg

        if not isinstance(exc, DatabaseError):
            raise
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
