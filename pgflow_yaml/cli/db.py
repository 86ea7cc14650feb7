"""``pgflow db``: start, stop and inspect the embedded PostgreSQL server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pgflow_yaml.cli.common import HelpGroup
from pgflow_yaml.errors import EmbeddedServerError, EmbeddedServerNotRunning

if TYPE_CHECKING:
    from pgflow_yaml.embedded import ServerStatus

db_app = typer.Typer(
    help="""The embedded PostgreSQL server (data in ./.pgflow/db) used when no database is set.

    Exit status: 0 done, 1 not running (url), 2 the server cannot start or be used; status
    exits 3 when the server is stopped.
    """,
    no_args_is_help=True,
    rich_markup_mode=None,
    cls=HelpGroup,
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data directory of the embedded server [default: ./.pgflow/db].",
        file_okay=False,
    ),
]


def _data_dir(value: Path | None) -> Path:
    from pgflow_yaml import embedded

    return value if value is not None else embedded.default_data_dir()


def _process(pid: int) -> str:
    from pgflow_yaml import embedded
    from pgflow_yaml.db import redact

    command = redact(embedded.command_line(pid))
    return f"{pid} ({command})" if command else str(pid)


def _render(status: ServerStatus) -> str:
    if not status.running:
        state = "stopped" if status.initialized else "not created yet"
        lines = [f"state:     {state}", f"data dir:  {status.data_dir}"]
        if status.version:
            lines.append(f"version:   PostgreSQL {status.version}")
        return "\n".join(lines)
    attached = ", ".join(_process(pid) for pid in status.attached) or "none"
    if status.kept:
        lifetime = "kept until `pgflow db stop`"
    elif status.attached:
        lifetime = "stops when the last attached process exits"
    else:
        # Every attached process died without detaching (e.g. SIGKILL).
        lifetime = "left behind: no process attached; `pgflow db stop` stops it"
    return "\n".join(
        [
            f"state:     running ({lifetime})",
            f"data dir:  {status.data_dir}",
            f"version:   PostgreSQL {status.version}",
            f"pid:       {status.pid}",
            f"url:       {status.url}",
            f"attached:  {attached}",
        ]
    )


@db_app.command("start")
def start_cmd(data_dir: DataDir = None) -> None:
    """Start the embedded server and keep it running until `pgflow db stop`.

    Exit status: 0 running, 2 it cannot start (the message says why).
    """
    from pgflow_yaml import embedded

    status = embedded.start(_data_dir(data_dir))
    typer.echo(_render(status))


@db_app.command("stop")
def stop_cmd(
    data_dir: DataDir = None,
    force: Annotated[
        bool, typer.Option("--force", help="Stop even while other processes use the server.")
    ] = False,
) -> None:
    """Stop the embedded server.

    Exit status: 0 stopped (or was not running), 2 it cannot be stopped (in use without --force).
    """
    from pgflow_yaml import embedded

    path = _data_dir(data_dir)
    stopped = embedded.stop(path, force=force)
    typer.echo(f"stopped the embedded server in {path}" if stopped else f"not running: {path}")


@db_app.command("status")
def status_cmd(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Show the data directory, version, pid and attached processes.

    Exit status: 0 running, 3 stopped or not created yet, 2 the folder cannot be used.
    """
    from pgflow_yaml import embedded

    status = embedded.status(_data_dir(data_dir))
    typer.echo(json.dumps(status.as_dict(), indent=2) if as_json else _render(status))
    if not status.running:
        raise typer.Exit(3)


@db_app.command("url")
def url_cmd(data_dir: DataDir = None) -> None:
    """Print the connection URL of the running embedded server.

    Exit status: 0 printed, 1 the server is not running, 2 the folder cannot be used.
    """
    from pgflow_yaml import embedded

    status = embedded.status(_data_dir(data_dir))
    if not status.running:
        raise EmbeddedServerNotRunning(data_dir=status.data_dir)
    typer.echo(status.url)


@db_app.command(
    "psql",
    # -h stays psql's (its host option): only --help shows this help
    context_settings={
        "allow_extra_args": True,
        "ignore_unknown_options": True,
        "help_option_names": ["--help"],
    },
)
def psql_cmd(ctx: typer.Context, data_dir: DataDir = None) -> None:
    """Open psql (shipped with the server) on the embedded server; extra arguments go to psql.

    Exit status: psql's own, or 2 when the server cannot start.
    """
    from pgflow_yaml import embedded

    url = embedded.server_url(_data_dir(data_dir))
    psql = embedded.psql_path()
    try:
        code = subprocess.call([str(psql), *ctx.args, url])
    except OSError as exc:
        raise EmbeddedServerError(str(exc)) from None
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add the ``db`` group to ``app``."""
    app.add_typer(db_app, name="db")
