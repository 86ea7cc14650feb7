"""``pgflow start | status | why | runs | cancel | retry``: start and watch runs from a shell.

The client (psycopg) and rich are imported where they are used, so that ``pgflow --help``
does not pay for them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from pgflow_yaml.cli.common import (
    STATUS_STYLE,
    AsJson,
    Dsn,
    duration,
    no_input,
    parse_input,
    print_json,
    render_run,
    step_rows,
    task_errors,
    watch,
    wide_console,
)

if TYPE_CHECKING:
    from pgflow_yaml.client import Client

__all__ = ["parse_input", "register", "step_rows"]


def start_command(
    flow: Annotated[
        str, typer.Argument(help="Flow slug, or a flow file (its input_schema is checked).")
    ],
    input: Annotated[
        str | None,
        typer.Option(
            "--input", "-i", help="Run input: JSON, or @file [default: {} if the flow needs none]."
        ),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the run to finish.")] = False,
    timeout: Annotated[float | None, typer.Option(help="Seconds to wait at most.")] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            help="Start nothing if a run of the flow has this key; print that run's id.",
        ),
    ] = None,
    priority: Annotated[
        int | None,
        typer.Option(
            "--priority",
            help="The run's priority, outranking the flow's and its steps' (higher is claimed"
            " first; under the flow's concurrency limit, higher starts first).",
        ),
    ] = None,
    dsn: Dsn = None,
    as_json: AsJson = False,
) -> None:
    """Start a run of a flow; print its id (with --wait: its final state).

    The input is checked against the flow's input_schema (stored with the flow) first.
    With --wait, a failed run prints its failing step, task, attempt and error.

    Exit status: 0 started (with --wait: completed), 1 the run failed or was cancelled, the
    flow is unknown, the input is invalid or the wait timed out, 2 misuse, no database or no
    pgflow core there, 3 --timeout passed and no worker serves the flow.
    """
    from pgflow_yaml.client import Client

    value = None if input is None else parse_input(input)
    with Client(dsn) as client:
        if value is None:
            value = no_input(flow, client.input_schema(flow))
        run_id = client.start(flow, value, idempotency_key=idempotency_key, priority=priority)
        if not wait:
            print_json({"run_id": run_id}) if as_json else typer.echo(run_id)
            return
        if timeout is None:
            _note_no_worker(client, run_id)
        run = client.wait(run_id, timeout)
    if as_json:
        print_json(run.to_json())
    else:
        typer.echo(f"{run.run_id} {run.status}")
        if run.status == "completed":
            typer.echo(json.dumps(run.output, indent=2, ensure_ascii=False))
        elif run.error is not None:
            typer.echo(run.error.describe())
            if run.error.traceback:
                typer.echo(f"(traceback: pgflow status {run.run_id} --tracebacks)")
    if run.status != "completed":
        raise typer.Exit(1)


def _note_no_worker(client: Client, run_id: str) -> None:
    """Say on stderr, before an unbounded wait, that no worker serves the run's flow yet."""
    slug = client.get(run_id).flow_slug
    if client.live_workers(slug) == 0:
        typer.echo(
            f"note: no worker serves flow {slug} yet; start one with `pgflow run-worker PATH`",
            err=True,
        )


def status_command(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    watch_: Annotated[
        bool, typer.Option("--watch", "-w", help="Live view until it finishes.")
    ] = False,
    tracebacks: Annotated[
        bool,
        typer.Option(
            "--tracebacks",
            help="Show the handler traceback of every task error too (implied by the global"
            " --traceback).",
        ),
    ] = False,
    dsn: Dsn = None,
    as_json: AsJson = False,
) -> None:
    """Show a run's steps (status, tasks, attempts, duration, error), then each task error.

    The child runs of its sub-flow steps are listed under their step and task (a child run
    names its parent in the header). --json prints the run (its "error": step, task, type,
    message, traceback, attempt; its parent_run_id), a "step_summary", "task_errors" (each with
    its "error_traceback") and "children".

    Exit status: 0 shown, 1 no such run, 2 no database or no pgflow core there.
    """
    from pgflow_yaml.client import Client

    tracebacks = tracebacks or bool(ctx.parent and ctx.parent.params.get("show_traceback"))
    console = wide_console()
    with Client(dsn) as client:
        if watch_ and not as_json:
            watch(client, run_id, console, tracebacks=tracebacks)
            return
        run = client.get(run_id)
        tasks = client.tasks(run_id)
        children = client.children(run_id)
    if as_json:
        data = run.to_json()
        data["step_summary"] = step_rows(run, tasks)
        data["task_errors"] = task_errors(tasks)
        data["children"] = [vars(c) for c in children]
        print_json(data)
    else:
        console.print(render_run(run, tasks, tracebacks=tracebacks, children=children))


def why_command(
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    dsn: Dsn = None,
    as_json: AsJson = False,
) -> None:
    """Say why each unfinished step or task of a run is not running now, and until when.

    One row per step not started yet and per unfinished task: waiting for dependencies, start
    delay or retry backoff, step concurrency full, rate limited, ready and waiting for a worker
    (and whether any live worker serves the flow), waiting for a signal, run queued, or running
    (docs/flow-control.md). --json prints the rows (step_slug, task_index, reason, detail, until).

    Exit status: 0 shown (nothing for a finished run), 1 no such run, 2 no database.
    """
    from rich.markup import escape
    from rich.table import Table

    from pgflow_yaml.client import Client

    with Client(dsn) as client:
        reasons = client.why(run_id)
    if as_json:
        print_json([vars(r) for r in reasons])
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("step", "task", "reason", "why", "until"):
        table.add_column(column, overflow="fold")
    for r in reasons:
        table.add_row(
            escape(r.step_slug),
            "" if r.task_index is None else str(r.task_index),
            r.reason,
            escape(r.describe()),
            r.until.strftime("%H:%M:%S") if r.until else "",
        )
    wide_console().print(table if reasons else "nothing waits: the run is finished")


def runs_command(
    flow: Annotated[str | None, typer.Option("--flow", help="Only runs of this flow.")] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="Only runs in this status: queued, started, completed, failed or cancelled.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 20,
    parent: Annotated[
        str | None,
        typer.Option(
            "--parent",
            help="Only the child runs of this run (started by its sub-flow steps), by step and"
            " task.",
        ),
    ] = None,
    dsn: Dsn = None,
    as_json: AsJson = False,
) -> None:
    """List recent runs, newest first, or with --parent a run's child runs.

    Exit status: 0 listed (also none), 2 an unknown --status, no database or no pgflow core.
    """
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from pgflow_yaml.client import Client, check_run_status

    check_run_status(status)  # before any database is started or reached
    with Client(dsn) as client:
        found = client.runs(flow, status, limit, parent=parent)
    if as_json:
        print_json([vars(r) for r in found])
        return
    table = Table(show_edge=False, pad_edge=False)
    columns = ["run_id", "flow", "status", "started", "duration"]
    for column in columns if parent is None else ["parent task", *columns]:
        table.add_column(column, overflow="fold")
    for r in found:
        cells: list[str | Text] = [
            r.run_id,
            escape(r.flow_slug),
            Text(r.status, style=STATUS_STYLE.get(r.status, "")),
            r.started_at.strftime("%m-%d %H:%M:%S") if r.started_at else "",
            duration(r.started_at, r.completed_at or r.failed_at or r.cancelled_at),
        ]
        if parent is not None:
            cells.insert(0, escape(f"{r.parent_step_slug}[{r.parent_task_index}]"))
        table.add_row(*cells)
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
    """Cancel a run: nothing more starts, results still in flight are ignored.

    A queued run (held by its flow's concurrency limit) is cancelled before anything of it
    started; a started one frees its slot for the next queued run (highest priority, then
    oldest).

    Exit status: 0 cancelled (or already finished), 1 no such run, 2 no database or no pgflow
    core there.
    """
    _control("cancel", run_id, dsn, as_json)


def retry_command(
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    dsn: Dsn = None,
    as_json: AsJson = False,
) -> None:
    """Start a failed or cancelled run's failed steps, and what depends on them, again.

    Under a full flow concurrency limit the run is queued (status queued) until a slot frees.

    Exit status: 0 retried, 1 no such run (or nothing to retry), 2 no database or no pgflow
    core there.
    """
    _control("retry", run_id, dsn, as_json)


def prune_command(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            help="Delete runs that ended more than this long ago: a PostgreSQL interval"
            " ('30 days', '12h').",
        ),
    ],
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size", min=1, help="Runs looked at per batch (one transaction each)."
        ),
    ] = 1000,
    pause: Annotated[
        float,
        typer.Option("--pause", min=0.0, help="Seconds to sleep between batches."),
    ] = 0.0,
    dsn: Dsn = None,
    as_json: AsJson = False,
) -> None:
    """Delete finished runs (completed, failed, cancelled) that ended before the cutoff, with
    their step states, tasks and queue messages, in bounded batches: each batch is its own
    short transaction and skips runs another session holds locked, so running workers are not
    blocked. Running runs are never deleted. Each batch also deletes rate-limit start records
    out of their step's window; the last also deletes schedule fire records and stopped workers
    older than the cutoff. Needs the core's owner.

    Exit status: 0 done, 1 refused by the database, 2 misuse (an invalid interval) or no
    database.
    """
    from pgflow_yaml.client import Client

    with Client(dsn) as client:
        result = client.prune(older_than, batch_size=batch_size, pause=pause)
    if as_json:
        print_json(
            {
                "runs_deleted": result.runs_deleted,
                "batches": result.batches,
                "cutoff": result.cutoff.isoformat(),
            }
        )
    else:
        typer.echo(
            f"pruned {result.runs_deleted} runs that ended before {result.cutoff.isoformat()}"
            f" ({result.batches} batches)"
        )


def register(app: typer.Typer) -> None:
    """Add ``start``, ``status``, ``runs``, ``cancel``, ``retry`` and ``prune`` to ``app``."""
    app.command("start")(start_command)
    app.command("status")(status_command)
    app.command("why")(why_command)
    app.command("runs")(runs_command)
    app.command("cancel")(cancel_command)
    app.command("retry")(retry_command)
    app.command("prune")(prune_command)
