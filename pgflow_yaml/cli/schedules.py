"""``pgflow schedules [pause|resume|trigger]``: see and steer the flows' cron schedules."""

from __future__ import annotations

from typing import Annotated

import typer

from pgflow_yaml.cli.common import AsJson, Dsn, print_json, wide_console

schedules_app = typer.Typer(
    help="""Cron schedules of the flows: list them (the default), pause, resume, trigger.

    Exit status: 0 done, 1 no such schedule (or flow), 2 misuse, no database or no pgflow core
    (or one without schedules) there.
    """,
)

FlowArg = Annotated[str, typer.Argument(help="The flow's slug.")]
NameArg = Annotated[str, typer.Argument(help="The schedule's name (one alone is 'default').")]


@schedules_app.callback(invoke_without_command=True)
def list_command(
    ctx: typer.Context,
    flow: Annotated[str | None, typer.Option("--flow", help="Only this flow's schedules.")] = None,
    dsn: Dsn = None,
    as_json: AsJson = False,
) -> None:
    """List every schedule: next 3 fire times (its timezone and UTC), last fire and its run.

    Exit status: 0 listed, 2 no database or no pgflow core there.
    """
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from pgflow_yaml.client import Client

    with Client(dsn) as client:
        found = client.schedules(flow)
    if as_json:
        print_json([s.to_json() for s in found])
        return
    if not found:
        typer.echo("no schedules" + (f" for flow {flow}" if flow else ""))
        return
    table = Table("flow", "name", "cron", "next fires (local / UTC)", "last fire", "state")
    for info in found:
        data = info.to_json()
        upcoming = "\n".join(
            f"{t['local'][:16].replace('T', ' ')} / {t['utc'][:16].replace('T', ' ')}Z"
            for t in data["next_fires"]
        )
        last = data["last_fire"]
        last_text = (
            "-"
            if last is None
            else f"{last['at'][:16].replace('T', ' ')} {last['outcome']}"
            + (f" ({last['run_status']})" if last["run_status"] else "")
        )
        state = "disabled" if not info.enabled else "paused" if data["paused"] else "active"
        table.add_row(
            info.flow_slug, info.name, f"{info.cron} {info.timezone}", upcoming, last_text, state
        )
    wide_console().print(table)


@schedules_app.command("pause")
def pause_command(flow: FlowArg, name: NameArg, dsn: Dsn = None) -> None:
    """Pause a schedule: it fires nothing until resumed.

    Exit status: 0 paused, 1 no such schedule, 2 no database or no pgflow core there.
    """
    from pgflow_yaml.client import Client

    with Client(dsn) as client:
        client.pause_schedule(flow, name)
    typer.echo(f"paused {flow}/{name}")


@schedules_app.command("resume")
def resume_command(flow: FlowArg, name: NameArg, dsn: Dsn = None) -> None:
    """Resume a paused schedule (fire times of the pause are not caught up).

    Exit status: 0 resumed, 1 no such schedule, 2 no database or no pgflow core there.
    """
    from pgflow_yaml.client import Client

    with Client(dsn) as client:
        client.resume_schedule(flow, name)
    typer.echo(f"resumed {flow}/{name}")


@schedules_app.command("trigger")
def trigger_command(flow: FlowArg, name: NameArg, dsn: Dsn = None, as_json: AsJson = False) -> None:
    """Start a run of a schedule now, with its input; print the run's id.

    Exit status: 0 started, 1 no such schedule or the start failed, 2 no database or no pgflow
    core there.
    """
    from pgflow_yaml.client import Client

    with Client(dsn) as client:
        run_id = client.trigger_schedule(flow, name)
    print_json({"run_id": run_id}) if as_json else typer.echo(run_id)


def register(app: typer.Typer) -> None:
    """Add the ``schedules`` group to ``app``."""
    app.add_typer(schedules_app, name="schedules")
