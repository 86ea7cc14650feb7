"""``pgflow compile`` and ``pgflow graph``: flow files to SQL migrations, and to pictures.

The commands only dispatch: :func:`pgflow_yaml.compiler.compile_paths`,
:func:`pgflow_yaml.drift.check_drift` and :func:`pgflow_yaml.graphs.render_graph` do the work.
Exit status: 0 success, 1 invalid flow or drift, 2 usage, I/O or database error.
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated

import psycopg
import typer

from pgflow_yaml.cli import app
from pgflow_yaml.compiler import CompileError, CompileResult, compile_paths, write_migrations
from pgflow_yaml.db import redact, resolve_dsn
from pgflow_yaml.drift import DriftCheckError, check_drift, render_drift
from pgflow_yaml.graphs import render_graph
from pgflow_yaml.validate import ValidationReport, validate_paths

DEFAULT_OUT_DIR = Path("migrations")


class GraphFormat(enum.StrEnum):
    """How ``pgflow graph`` draws a flow."""

    mermaid = "mermaid"
    dot = "dot"
    text = "text"


def _fail(message: str, code: int) -> typer.Exit:
    sys.stderr.write(f"error: {redact(message)}\n")
    return typer.Exit(code)


def _report_invalid(report: ValidationReport) -> typer.Exit:
    sys.stderr.write(report.render("text"))
    sys.stderr.write(report.summary() + "\n")
    return typer.Exit(report.exit_code)


def _check(result: CompileResult, dsn: str | None) -> int:
    try:
        with psycopg.connect(resolve_dsn(dsn), autocommit=True) as conn:
            drift = check_drift(conn, result.report.flows)
    except (psycopg.Error, DriftCheckError) as exc:
        raise _fail(f"cannot check the database: {exc}", 2) from None
    sys.stdout.write(render_drift(drift))
    drifted = sum(d.drifted for d in drift)
    if drifted:
        sys.stderr.write(f"{drifted} of {len(drift)} flows differ from the database\n")
        return 1
    return 0


@app.command("compile")
def compile_command(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Flow files and folders of flow files.", show_default=False),
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out-dir", help="Folder to write migrations into (default: migrations/)."),
    ] = None,
    stdout: Annotated[
        bool, typer.Option("--stdout", help="Print the migrations instead of writing files.")
    ] = False,
    timestamp: Annotated[
        str | None,
        typer.Option(
            "--timestamp",
            metavar="YYYYMMDDHHMMSS",
            help="UTC time naming the files (default: now); fix it for reproducible output.",
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Write nothing; compare the flows with the database, exit 1 on any drift.",
        ),
    ] = False,
    dsn: Annotated[
        str | None,
        typer.Option(
            "--dsn", help="Database URL for --check (default: PGFLOW_DATABASE_URL, DATABASE_URL)."
        ),
    ] = None,
) -> None:
    """Validate flow files, then write one SQL migration per flow.

    Each file is named <timestamp>_create_<flow_slug>_flow.sql and applies with any tool
    (psql -1 -v ON_ERROR_STOP=1, Supabase, Alembic, Flyway). Exit status: 0 done (or no drift),
    1 an invalid flow (or drift with --check), 2 a usage, I/O or database error.
    """
    if stdout and out_dir is not None:
        raise _fail("--stdout and --out-dir exclude each other", 2)
    if check and (stdout or out_dir is not None):
        raise _fail("--check writes nothing: drop --stdout / --out-dir", 2)
    if dsn is not None and not check:
        raise _fail("--dsn only applies with --check", 2)
    try:
        result = compile_paths(paths, timestamp=timestamp)
    except CompileError as exc:
        raise _fail(str(exc), 2) from None
    if not result.report.ok:
        raise _report_invalid(result.report)
    if result.errors:
        for line in result.errors:
            sys.stderr.write(f"error: {line}\n")
        raise typer.Exit(1)
    if check:
        raise typer.Exit(_check(result, dsn))
    if stdout:
        sys.stdout.write("\n".join(m.sql for m in result.migrations))
        return
    try:
        written = write_migrations(result.migrations, out_dir or DEFAULT_OUT_DIR)
    except OSError as exc:
        raise _fail(f"cannot write migrations: {exc}", 2) from None
    for path, migration in zip(written, result.migrations, strict=True):
        needs = " (needs the pgflow-yaml core)" if migration.extensions else ""
        sys.stdout.write(f"wrote {path}{needs}\n")


@app.command("graph")
def graph_command(
    file: Annotated[Path, typer.Argument(help="One flow file.", show_default=False)],
    output_format: Annotated[
        GraphFormat,
        typer.Option("--format", "-f", help="mermaid, dot (Graphviz) or text (terminal)."),
    ] = GraphFormat.text,
) -> None:
    """Print a flow's DAG, with map steps and conditions marked.

    Exit status: 0 printed, 1 invalid flow, 2 the file cannot be read.
    """
    report = validate_paths([file])
    if not report.ok:
        raise _report_invalid(report)
    for flow in report.flows:
        sys.stdout.write(render_graph(flow, output_format.value))
