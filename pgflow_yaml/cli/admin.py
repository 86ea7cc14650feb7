"""``pgflow install``: install or upgrade pgmq and the SQL core, or print its SQL."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pgflow_yaml.errors import UsageError


def install_command(
    dsn: Annotated[
        str | None,
        typer.Option(
            "--dsn",
            help="Database URL (default: PGFLOW_DATABASE_URL, DATABASE_URL, else embedded).",
        ),
    ] = None,
    print_sql: Annotated[
        bool,
        typer.Option(
            "--print",
            help="Write the SQL to stdout instead of running it (no database is contacted).",
        ),
    ] = False,
    roles: Annotated[
        bool,
        typer.Option("--roles", help="Also create the pgflow_worker and pgflow_client roles."),
    ] = False,
    from_version: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="VERSION",
            help="With --print: write the upgrade from this installed version instead.",
        ),
    ] = None,
) -> None:
    """Install pgmq and the pgflow core (or upgrade it), in one transaction, idempotently.

    Exit status: 0 done, 1 refused or failed (rolled back), 2 the database cannot be reached.
    """
    from pgflow_yaml import core, db

    if from_version is not None and not print_sql:
        raise UsageError("--from only applies with --print (install reads the version itself)")
    if print_sql:
        if from_version is None:
            text = core.render_install_sql(roles=roles)
        else:
            text = core.render_upgrade_sql(from_version, roles=roles)
        sys.stdout.write(text)
        return
    url = db.resolve_dsn(dsn)
    with db.translated(), db.connect(url, autocommit=True) as conn:
        result = core.install(conn, roles=roles)
    extra = " (roles pgflow_worker, pgflow_client granted)" if roles else ""
    if result.action == "installed":
        typer.echo(f"installed pgflow-yaml core {result.version}{extra}")
    elif result.action == "upgraded":
        typer.echo(
            f"upgraded pgflow-yaml core {result.previous_version} -> {result.version}{extra}"
        )
    else:
        typer.echo(f"pgflow-yaml core {result.version} already installed{extra}")


def register(app: typer.Typer) -> None:
    """Add ``install`` to ``app``."""
    app.command("install")(install_command)
