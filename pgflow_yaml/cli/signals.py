"""``pgflow signal``: deliver a signal to a signal step of a run from a shell.

The client (psycopg, jsonschema) is imported where it is used, so that ``pgflow --help`` does
not pay for it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from pgflow_yaml.cli.common import AsJson, Dsn, parse_input, print_json

__all__ = ["register"]


def signal_command(
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    step: Annotated[str, typer.Argument(help="Slug of the signal step.")],
    payload: Annotated[
        str, typer.Option("--payload", "-p", help="The signal's payload: JSON, or @file.")
    ] = "{}",
    task_index: Annotated[
        int, typer.Option("--task-index", help="Element of a signal map step (from 0).")
    ] = 0,
    dsn: Dsn = None,
    as_json: AsJson = False,
) -> None:
    """Deliver a signal to a signal step: its payload, checked against the step's schema,
    becomes the step's output and the run goes on. A step not waiting yet keeps the signal
    until it is ready; a signal map step takes one signal per element (--task-index) and
    completes once it has them all. Prints "completed" or "pending".

    Exit status: 0 delivered (completed or pending), 1 no such run, the payload breaks the
    step's schema (the step keeps waiting) or the signal is refused (not a signal step, already
    signalled, the run is not running), 2 misuse, no database or no pgflow core there.
    """
    from pgflow_yaml.client import Client

    value = parse_input(payload, "--payload")
    with Client(dsn) as client:
        outcome = client.signal(run_id, step, value, task_index)
    if as_json:
        print_json(
            {"run_id": run_id, "step_slug": step, "task_index": task_index, "outcome": outcome}
        )
    else:
        typer.echo(outcome)


def register(app: typer.Typer) -> None:
    """Add ``signal`` to ``app``."""
    app.command("signal")(signal_command)
