"""``pgflow flows list | drop``: the flows a database holds, and removing one of them.

The work is in :mod:`pgflow_yaml.flows`; the driver and rich are imported by the commands, so
that ``pgflow --help`` does not pay for them.
"""

from __future__ import annotations

from typing import Annotated

import typer

from pgflow_yaml.cli.common import AsJson, Dsn, print_json, wide_console

flows_app = typer.Typer(
    help="""The flows in the database: list them, drop one (with its runs).

    Exit status: 0 done, 1 the flow is unknown or has runs in progress (drop without --force),
    2 misuse, no database or no pgflow core there.
    """,
    no_args_is_help=True,
)


@flows_app.command("list")
def list_command(dsn: Dsn = None, as_json: AsJson = False) -> None:
    """List the flows in the database with their step and run counts.

    Exit status: 0 listed, 2 no database or no pgflow core there.
    """
    from rich.markup import escape
    from rich.table import Table

    from pgflow_yaml import db
    from pgflow_yaml.flows import list_flows

    with db.translated(), db.connect(db.resolve_dsn(dsn), autocommit=True) as conn:
        found = list_flows(conn)
    if as_json:
        print_json([f.to_json() for f in found])
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("flow", "steps", "runs", "in progress"):
        table.add_column(column, overflow="fold")
    for f in found:
        table.add_row(escape(f.flow_slug), str(f.steps), str(f.runs), str(f.in_progress))
    wide_console().print(table if found else "no flows")


@flows_app.command("drop")
def drop_command(
    flow_slug: Annotated[str, typer.Argument(metavar="SLUG", help="The flow to drop.")],
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Drop it even while runs are in progress (they are cancelled first)."
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dsn: Dsn = None,
) -> None:
    """Drop a flow: its runs, step states, tasks, steps, the flow and its queue.

    Then install the changed file: run-worker --apply, or its compiled migration.

    Refuses while runs are in progress unless --force; asks first unless --yes.

    Exit status: 0 dropped, 1 not dropped (no flow, runs in progress, declined), 2 no database
    or no pgflow core there.
    """
    from pgflow_yaml import db
    from pgflow_yaml.errors import FlowInUse, StartupError
    from pgflow_yaml.flows import drop_flow, flow_summary

    with db.translated(), db.connect(db.resolve_dsn(dsn), autocommit=True) as conn:
        summary = flow_summary(conn, flow_slug)
        if summary.in_progress and not force:
            raise FlowInUse(flow_slug=flow_slug, in_progress=summary.in_progress)
        question = (
            f"drop flow {flow_slug!r} with its {summary.steps} step(s) and {summary.runs} run(s)"
            f" ({summary.in_progress} in progress)?"
        )
        if not yes and not typer.confirm(question, err=True):
            raise StartupError(f"flow {flow_slug!r} was not dropped")
        dropped = drop_flow(conn, flow_slug, force=force)
    typer.echo(f"dropped flow {flow_slug} and {dropped} run(s)")


def register(app: typer.Typer) -> None:
    """Add ``flows list`` and ``flows drop`` to ``app``."""
    app.add_typer(flows_app, name="flows")
