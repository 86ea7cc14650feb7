"""``pgflow ui``: serve the web dashboard (runs, a run's DAG and tasks, flows, workers, live).

Starlette, uvicorn and Jinja2 come with the ``ui`` extra; without them the command says how to
install them. The dashboard binds to 127.0.0.1 unless told otherwise and prints its URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pgflow_yaml.cli.common import Dsn


def ui_command(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Flow files or folders whose input_schema the start form checks."),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port.")] = 8787,
    dsn: Dsn = None,
    allow_actions: Annotated[
        bool,
        typer.Option(
            "--allow-actions",
            help="Allow cancel, retry, start, signal and trigger-schedule (needs the token).",
        ),
    ] = False,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help="File holding the actions token, created (mode 0600) at first start"
            " (default: .pgflow/ui-token).",
        ),
    ] = None,
) -> None:
    """Serve the web dashboard: runs, each run's DAG and tasks, flows, workers, live updates.

    Read-only unless --allow-actions; binds to 127.0.0.1 unless --host says otherwise. With
    the roles installed it runs as pgflow_client (a warning when the login is not a member).

    Exit status: 0 stopped (Ctrl-C), 2 misuse, the ui extra missing or no database.
    """
    from pgflow_yaml import ui

    ui.require_extra()
    import logging

    import uvicorn

    from pgflow_yaml.db import resolve_dsn
    from pgflow_yaml.ui.app import Settings, create_app
    from pgflow_yaml.ui.auth import DEFAULT_TOKEN_FILE, load_token
    from pgflow_yaml.validate import load_flows

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = Settings(dsn=resolve_dsn(dsn), flows=load_flows(paths) if paths else [])
    if allow_actions:
        path = token_file or DEFAULT_TOKEN_FILE
        settings.token, created = load_token(path)
        settings.allow_actions = True
        typer.echo(f"actions on: the token is in {path}" + (" (new)" if created else ""))
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"pgflow ui on http://{shown}:{port}/ (Ctrl-C stops it)")
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=2,
    )


def register(app: typer.Typer) -> None:
    """Add ``ui`` to ``app``."""
    app.command("ui")(ui_command)
