"""``pgflow start | status | runs | cancel | retry``: start and watch runs from a shell.

The client (psycopg) and rich are imported where they are used, so that ``pgflow --help``
does not pay for them.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from pgflow_yaml.cli.common import (
    STATUS_STYLE,
    AsJson,
    Dsn,
    duration,
    parse_input,
    print_json,
    render_run,
    step_rows,
    watch,
    wide_console,
)

__all__ = ["parse_input", "register", "step_rows"]


def start_command(
    flow: Annotated[
        str, typer.Argument(help="Flow slug, or a flow file (its input_schema is checked).")
    ],
    input: Annotated[str, typer.Option("--input", "-i", help="Run input: JSON, or @file.")] = "{}",
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the run to finish.")] = False,
    timeout: Annotated[float | None, typer.Option(help="Seconds to wait at most.")] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            help="Start nothing if a run of the flow has this key; print that run's id.",
        ),
    ] = None,
    dsn: Dsn = None,
    as_json: AsJson = False,
) -> None:
    """Start a run of a flow; print its id (with --wait: its final state)."""
    from pgflow_yaml.client import Client

    value = parse_input(input)
    with Client(dsn) as client:
        run_id = client.start(flow, value, idempotency_key=idempotency_key)
        if not wait:
            print_json({"run_id": run_id}) if as_json else typer.echo(run_id)
            return
        run = client.wait(run_id, timeout)
    if as_json:
        print_json(run.to_json())
    else:
        typer.echo(f"{run.run_id} {run.status}")
        typer.echo(json.dumps(run.output, indent=2, ensure_ascii=False))
    if run.status != "completed":
        raise typer.Exit(1)


def status_command(
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    watch_: Annotated[
        bool, typer.Option("--watch", "-w", help="Live view until it finishes.")
    ] = False,
    dsn: Dsn = None,
    as_json: AsJson = False,
) -> None:
    """Show a run's steps: status, tasks, attempts, duration, errors."""
    from pgflow_yaml.client import Client

    console = wide_console()
    with Client(dsn) as client:
        if watch_ and not as_json:
            watch(client, run_id, console)
            return
        run = client.get(run_id)
        tasks = client.tasks(run_id)
    if as_json:
        data = run.to_json()
        data["step_summary"] = step_rows(run, tasks)
        print_json(data)
    else:
        console.print(render_run(run, tasks))


def runs_command(
    flow: Annotated[str | None, typer.Option("--flow", help="Only runs of this flow.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Only runs in this status.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 20,
    dsn: Dsn = None,
    as_json: AsJson = False,
) -> None:
    """List recent runs, newest first."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from pgflow_yaml.client import Client

    with Client(dsn) as client:
        found = client.runs(flow, status, limit)
    if as_json:
        print_json([vars(r) for r in found])
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("run_id", "flow", "status", "started", "duration"):
        table.add_column(column, overflow="fold")
    for r in found:
        table.add_row(
            r.run_id,
            escape(r.flow_slug),
            Text(r.status, style=STATUS_STYLE.get(r.status, "")),
            r.started_at.strftime("%m-%d %H:%M:%S") if r.started_at else "",
            duration(r.started_at, r.completed_at or r.failed_at),
        )
    wide_console().print(table if found else "no runs")


def _control(action: str, run_id: str, dsn: str | None, as_json: bool) -> None:
    from pgflow_yaml.client import Client

    with Client(dsn) as client:
        run = client.cancel(run_id) if action == "cancel" else client.retry(run_id)
    if as_json:
        print_json(run.to_json())
    else:
        typer.echo(f"{run.run_id} {run.status}")


def cancel_command(
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    dsn: Dsn = None,
    as_json: AsJson = False,
) -> None:
    """Cancel a run: nothing more starts, results still in flight are ignored."""
    _control("cancel", run_id, dsn, as_json)


def retry_command(
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    dsn: Dsn = None,
    as_json: AsJson = False,
) -> None:
    """Start a failed or cancelled run's failed steps, and what depends on them, again."""
    _control("retry", run_id, dsn, as_json)


def register(app: typer.Typer) -> None:
    """Add ``start``, ``status``, ``runs``, ``cancel`` and ``retry`` to ``app``."""
    app.command("start")(start_command)
    app.command("status")(status_command)
    app.command("runs")(runs_command)
    app.command("cancel")(cancel_command)
    app.command("retry")(retry_command)
