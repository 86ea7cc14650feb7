"""``pgflow compile`` and ``pgflow graph``: flow files to SQL migrations, and to pictures.

The commands only dispatch: :func:`pgflow_yaml.compiler.compile_paths`,
:func:`pgflow_yaml.drift.check_drift` and :func:`pgflow_yaml.graphs.render_graph` do the work.
Exit status: 0 success, 1 invalid flow or drift, 2 usage, I/O or database error.
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pgflow_yaml.errors import DriftCheckError, FileError, PgflowError, UsageError

if TYPE_CHECKING:  # imported by the commands themselves: `pgflow --help` stays fast
    from pgflow_yaml.compiler import CompileResult
    from pgflow_yaml.validate import ValidationReport

DEFAULT_OUT_DIR = Path("migrations")


class DiagnosticFormat(enum.StrEnum):
    """How an invalid flow file is reported (as ``pgflow validate --format``)."""

    text = "text"
    json = "json"
    github = "github"


FORMAT_OPTION = typer.Option(
    "--format",
    "-f",
    help="Problems in flow files as text (stderr), json or github (stdout), as validate does.",
)


class GraphFormat(enum.StrEnum):
    """How ``pgflow graph`` draws a flow."""

    mermaid = "mermaid"
    dot = "dot"
    text = "text"


def _report_invalid(report: ValidationReport, fmt: DiagnosticFormat) -> typer.Exit:
    """Report an invalid set of files as ``pgflow validate`` does, and exit with its code."""
    rendered = report.render(fmt.value)
    if fmt is DiagnosticFormat.text:
        sys.stderr.write(rendered)  # the summary line included
    else:
        sys.stdout.write(rendered)
        sys.stderr.write(report.summary() + "\n")
    return typer.Exit(report.exit_code)


def _check(result: CompileResult, dsn: str | None) -> int:
    """Compare the compiled flows with the database; return the exit status (0 or 1).

    Raises:
        DatabaseUnavailable: no database to check (exit status 2).
        DriftCheckError: the database cannot be checked (no core, a refused query; exit 2).
    """
    from pgflow_yaml import db
    from pgflow_yaml.drift import check_drift, render_drift
    from pgflow_yaml.errors import DatabaseError, DatabaseUnavailable

    try:
        url = db.resolve_dsn(dsn)
    except PgflowError as exc:  # the embedded server failed to start: say why
        raise DatabaseUnavailable(f"no database to check: {exc}") from None
    try:
        with db.translated(), db.connect(url, autocommit=True) as conn:
            drift = check_drift(conn, result.report.flows)
    except DatabaseUnavailable:  # already one line naming the server
        raise
    except DatabaseError as exc:
        raise DriftCheckError(f"cannot check the database: {exc}") from None
    sys.stdout.write(render_drift(drift))
    drifted = sum(d.drifted for d in drift)
    if drifted:
        sys.stderr.write(f"{drifted} of {len(drift)} flows differ from the database\n")
        return 1
    return 0


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
    diagnostics: Annotated[DiagnosticFormat, FORMAT_OPTION] = DiagnosticFormat.text,
) -> None:
    """Validate flow files, then write one SQL migration per flow.

    Files are named TIMESTAMP_create_SLUG_flow.sql; apply them with any tool.

    Exit status: 0 done (or no drift), 1 invalid flow (or drift), 2 usage, I/O or database error.
    """
    from pgflow_yaml.compiler import compile_paths, write_migrations

    if stdout and out_dir is not None:
        raise UsageError("--stdout and --out-dir exclude each other")
    if check and (stdout or out_dir is not None):
        raise UsageError("--check writes nothing: drop --stdout / --out-dir")
    if dsn is not None and not check:
        raise UsageError("--dsn only applies with --check")
    result = compile_paths(paths, timestamp=timestamp)  # CompileError: exit status 2
    if not result.report.ok:
        raise _report_invalid(result.report, diagnostics)
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
        raise FileError(f"cannot write migrations: {exc}") from None
    for outcome, migration in zip(written, result.migrations, strict=True):
        if not outcome.written:
            sys.stdout.write(f"unchanged {outcome.path}\n")
            continue
        needs = " (needs the pgflow-yaml core)" if migration.extensions else ""
        sys.stdout.write(f"wrote {outcome.path}{needs}\n")
        if outcome.shape_changed_from is not None:
            slug = migration.flow_slug
            sys.stderr.write(
                f"warning: {outcome.path.name} changes the shape of flow {slug} compiled in "
                f"{outcome.shape_changed_from.name}: where that one was applied, this one stops "
                f"at its shape guard; drop the flow there first (`pgflow flows drop {slug}`, "
                "which deletes its runs) or give the changed flow a new slug "
                "(docs/evolving-flows.md)\n"
            )


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
    from pgflow_yaml.graphs import render_graph
    from pgflow_yaml.validate import validate_paths

    report = validate_paths([file])
    if not report.ok:
        raise _report_invalid(report, DiagnosticFormat.text)
    for flow in report.flows:
        sys.stdout.write(render_graph(flow, output_format.value))


def register(app: typer.Typer) -> None:
    """Add ``compile`` and ``graph`` to ``app``."""
    app.command("compile")(compile_command)
    app.command("graph")(graph_command)
