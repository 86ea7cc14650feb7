"""``pgflow run-worker`` (serve flows) and ``pgflow run`` (the one-shot development command).

The worker, the client and the database driver are imported by the commands themselves, so
that ``pgflow --help`` does not pay for them. Errors are raised as they are: the command line's
one error boundary (``pgflow_yaml.cli``) prints them as one line with their exit status.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pgflow_yaml.cli.common import (
    no_input,
    parse_input,
    print_json,
    render_run,
    watch,
    wide_console,
)
from pgflow_yaml.errors import UsageError

if TYPE_CHECKING:  # imported by the commands themselves: `pgflow --help` stays fast
    from pgflow_yaml.model import FlowSpec
    from pgflow_yaml.worker.startup import Replace

LogFormat = Annotated[
    str, typer.Option("--log-format", help="text or json (one JSON object per line).")
]
LogLevel = Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")]


def _log_setup(fmt: str, level: str) -> None:
    from pgflow_yaml.worker import logs

    if fmt not in ("text", "json"):
        raise UsageError(f"--log-format must be text or json, not {fmt!r}")
    if level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise UsageError(f"--log-level must be debug, info, warning or error, not {level!r}")
    logs.configure("json" if fmt == "json" else "text", level.upper())


def run_worker_command(
    paths: Annotated[list[Path], typer.Argument(help="Flow files or folders.")],
    dsn: Annotated[str | None, typer.Option("--dsn", help="Database URL.")] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Tasks in flight at most.")] = 10,
    flow: Annotated[
        list[str] | None, typer.Option("--flow", help="Serve only this flow (repeatable).")
    ] = None,
    apply: Annotated[
        bool,
        typer.Option(
            "--apply",
            help="Install flows missing from the database; apply changed options in place.",
        ),
    ] = False,
    grace_period: Annotated[
        float, typer.Option(min=0, help="Seconds in-flight tasks get once stopping.")
    ] = 10.0,
    poll_interval: Annotated[
        float, typer.Option(min=0.05, help="Seconds between polls when no wake-up arrives.")
    ] = 1.0,
    heartbeat_interval: Annotated[
        float, typer.Option(min=0.1, help="Seconds between heartbeats.")
    ] = 5.0,
    requeue_interval: Annotated[
        float, typer.Option(min=0.1, help="Seconds between requeues of dead workers' tasks.")
    ] = 10.0,
    durable_commits: Annotated[
        bool,
        typer.Option(help="Wait for the WAL flush on every claim and report (slower)."),
    ] = False,
    log_format: LogFormat = "text",
    log_level: LogLevel = "info",
    metrics_port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Serve Prometheus metrics on this port."),
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Address the metrics listen on.")] = "127.0.0.1",
    transaction_pooling: Annotated[
        bool,
        typer.Option(
            envvar="PGFLOW_TRANSACTION_POOLING",
            help="The DSN goes through a transaction-mode pooler (PgBouncer): no prepared "
            "statements, no session SET, no LISTEN through it (docs/deploying.md).",
        ),
    ] = False,
    listen_dsn: Annotated[
        str | None,
        typer.Option(
            "--listen-dsn",
            metavar="URL",
            envvar="PGFLOW_LISTEN_DATABASE_URL",
            help="A direct database URL for LISTEN only (with --transaction-pooling; "
            "without it such a worker polls every --poll-interval).",
        ),
    ] = None,
) -> None:
    """Serve the flows of these files: claim tasks, run their handlers, report the results.

    Runs until SIGINT or SIGTERM. Exit status: 0 stopped cleanly, 1 it cannot start (an invalid
    flow, a handler that does not import, a flow missing or of another shape in the database),
    2 misuse, no database or no pgflow core there.
    """
    from pgflow_yaml.db import POOLING_ENV, resolve_dsn
    from pgflow_yaml.worker.service import check_database, load, log_notes, make_worker, serve

    _log_setup(log_format, log_level)
    if transaction_pooling:  # every connection of this process, handlers' ctx.connect() too
        os.environ[POOLING_ENV] = "1"
    if metrics_port is not None:
        from pgflow_yaml.metrics import serve_worker_metrics

        serve_worker_metrics(metrics_port, metrics_host)
    flows, handlers = load(paths, only=flow or ())  # before any database is created or reached
    url = resolve_dsn(dsn)
    log_notes(check_database(url, flows, apply=apply))
    worker = make_worker(
        url,
        handlers,
        flows,
        concurrency=concurrency,
        grace_period=grace_period,
        poll_interval=poll_interval,
        heartbeat_interval=heartbeat_interval,
        requeue_interval=requeue_interval,
        durable_commits=durable_commits,
        transaction_pooling=transaction_pooling,
        listen_dsn=listen_dsn,
    )
    serve(worker)


def run_command(
    file: Annotated[Path, typer.Argument(help="A flow file.")],
    input: Annotated[
        str | None,
        typer.Option(
            "--input", "-i", help="Run input: JSON, or @file [default: {} if the flow needs none]."
        ),
    ] = None,
    dsn: Annotated[
        str | None, typer.Option("--dsn", help="Database URL [default: embedded].")
    ] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds to wait at most.")] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Tasks in flight at most.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the final run as JSON.")] = False,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Embedded server only: when the flow's shape changed, drop it and its runs "
            "(asks first) and install the file's.",
        ),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="With --replace: do not ask for confirmation.")
    ] = False,
) -> None:
    """Run a flow once: database, core, flow, an in-process worker, live progress, output.

    A flow with sub-flow steps runs with the flows they run: each is taken from the flow files
    of FILE's folder (subfolders too), installed and served by the same worker.

    Changed options are applied in place (one line each on stderr). A changed shape stops it:
    --replace drops the flow and its runs on the embedded server; elsewhere use
    `pgflow flows drop SLUG`.

    Exit status: 0 the run completed, 1 it failed or was cancelled, the flow or its input is
    invalid, or the wait timed out, 2 misuse or no database, 130 interrupted.
    """
    from pgflow_yaml import core, db
    from pgflow_yaml.client import Client
    from pgflow_yaml.errors import UsageError
    from pgflow_yaml.validate import with_child_flows
    from pgflow_yaml.worker import logs
    from pgflow_yaml.worker.service import WorkerThread, check_database, load, make_worker

    logs.configure("text", "WARNING")
    value = None if input is None else parse_input(input)
    if yes and not replace:
        raise UsageError("--yes only applies with --replace")
    if replace and not db.uses_embedded(dsn):
        raise UsageError(
            "--replace drops flows on the embedded development server only; on this server "
            "drop the flow with `pgflow flows drop SLUG`"
        )
    console = wide_console(stderr=True)
    try:
        # the file's flow first, then the flows its sub-flow steps run (served here too)
        flows, handlers = load(with_child_flows(file))  # before any database is reached
        if value is None:
            value = no_input(flows[0].slug, flows[0].input_schema)
        url = db.resolve_dsn(dsn)
        with db.translated(), db.connect(url, autocommit=True) as conn:
            core.install(conn)
        notes = check_database(
            url, flows, apply=True, replace=_confirm_replace(yes) if replace else None
        )
        for note in notes:
            typer.echo(note.text, err=True)
        thread = WorkerThread(
            make_worker(url, handlers, flows, concurrency=concurrency, grace_period=2)
        )
        with Client(url, flows=flows) as client:
            run_id = client.start(flows[0], value)
            thread.start()
            try:
                if console.is_terminal and not as_json:
                    run = watch(client, run_id, console, timeout=timeout)
                else:
                    run = client.wait(run_id, timeout)
                    if not as_json:
                        console.print(render_run(run, client.tasks(run_id)))
            finally:
                thread.stop(timeout=10)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    if as_json:
        print_json(run.to_json())
        if run.status != "completed":
            raise typer.Exit(1)
        return
    if run.status != "completed":  # the error, not a "null" output (RunError: exit status 1)
        if run.error is not None and run.error.traceback:
            typer.echo(run.error.traceback.rstrip(), err=True)
        run.result()
    typer.echo(json.dumps(run.output, indent=2, ensure_ascii=False))


def _confirm_replace(yes: bool) -> Replace:
    """Return the question ``pgflow run --replace`` asks before dropping a changed flow."""

    def confirm(flow: FlowSpec, differences: list[str]) -> bool:
        if yes:
            return True
        listed = "".join(f"\n  - {line}" for line in differences)
        typer.echo(f"flow {flow.slug} differs from the database:{listed}", err=True)
        return typer.confirm(
            f"drop flow {flow.slug} and all its runs, then install the file's?", err=True
        )

    return confirm


def register(app: typer.Typer) -> None:
    """Add ``run-worker`` and ``run`` to ``app``."""
    app.command("run-worker")(run_worker_command)
    app.command("run")(run_command)
