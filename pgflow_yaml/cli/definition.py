"""``pgflow validate``, ``pgflow explain`` and ``pgflow schema``: check flow files offline, show
a flow's worst case, print the JSON Schema.

The validator (jsonschema, networkx, yaml) is imported inside the commands, so that
``pgflow --help`` does not pay for it.
"""

from __future__ import annotations

import enum
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

if TYPE_CHECKING:
    from pgflow_yaml.flow_control import FlowWorstCase


class Format(enum.StrEnum):
    """How ``pgflow validate`` reports."""

    text = "text"
    json = "json"
    github = "github"


def _color(stream: TextIO) -> bool:
    """Return True when ``stream`` is a terminal that wants colors (honours ``NO_COLOR``)."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def validate_command(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Flow files and folders (folders recurse into *.yaml, *.yml, *.toml).",
            metavar="PATH",
            show_default=False,
        ),
    ],
    output_format: Annotated[
        Format,
        typer.Option(
            "--format",
            "-f",
            help="text (stderr, with source lines), json (stdout) or github (annotations).",
        ),
    ] = Format.text,
    check_handlers: Annotated[
        bool,
        typer.Option(
            "--check-handlers",
            help="Also import every handler and check that it takes (input) or (input, ctx).",
        ),
    ] = False,
) -> None:
    """Check flow files and report every problem in every file.

    Exit status: 0 all valid, 1 some flow invalid, 2 unreadable input or misuse.
    """
    from pgflow_yaml.validate import validate_paths

    try:
        report = validate_paths(paths, check_handlers=check_handlers)
        rendered = report.render(output_format.value, color=_color(sys.stderr))
    except Exception as exc:  # last resort: a message, never a traceback
        sys.stderr.write(f"error[PGF100] internal error: {type(exc).__name__}: {exc}\n")
        raise typer.Exit(2) from None
    if output_format is Format.text:
        sys.stderr.write(rendered)  # the summary line included
    else:
        sys.stdout.write(rendered)
        if output_format is Format.github:
            sys.stderr.write(report.summary() + "\n")
    raise typer.Exit(report.exit_code)


def explain_command(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Flow files and folders (folders recurse into *.yaml, *.yml, *.toml).",
            metavar="PATH",
            show_default=False,
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show how long a run of each flow can take at worst, from the file alone (no database).

    Per step: attempts × timeout, the retry backoff (base_delay × 2^n after failed attempt n),
    the start delay, and when it starts and finishes at worst after its dependencies; then the
    critical path (marked *), the flow's worst case and its deadline. A signal step counts its
    timeout once; a map step with a step concurrency limit is unbounded (its elements run a
    few at a time), and so is a sub-flow step without a timeout of its own (with one, each
    child run gets it). Queue time behind a flow concurrency limit is not counted.

    Exit status: 0 explained (even over the deadline), 1 invalid flow, 2 unreadable input.
    """
    from pgflow_yaml.cli.common import print_json, wide_console
    from pgflow_yaml.flow_control import explain_paths

    report, cases = explain_paths(paths)
    if not report.ok:
        sys.stderr.write(report.render("text"))
        raise typer.Exit(report.exit_code)
    if as_json:
        print_json({"flows": [case.to_json() for case in cases]})
        return
    console = wide_console()
    for number, case in enumerate(cases):
        if number:
            console.print()
        console.print(render_explanation(case))


def render_explanation(case: FlowWorstCase) -> Any:
    """Return a rich renderable of one flow's worst case (pgflow explain): a table of steps and
    a summary."""
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from pgflow_yaml.flow_control import format_seconds

    table = Table(title=f"flow {escape(case.flow_slug)}", title_justify="left")
    for column in (
        "step",
        "kind",
        "attempts × timeout",
        "backoff",
        "delay",
        "worst case",
        "starts",
        "finishes",
    ):
        table.add_column(column, justify="left" if column in ("step", "kind") else "right")
    for step in case.steps:
        mark = "* " if step.critical else "  "
        worst = format_seconds(step.worst_case)
        if step.serialized_by is not None:
            limit = step.serialized_by
            per = f" per {limit['key']}" if "key" in limit else ""
            worst = f"unbounded ({format_seconds(step.per_task)} × ⌈n/{limit['limit']}⌉{per})"
        elif step.per_task is None:
            worst = "unbounded (no timeout of its own)"
        if step.kind == "signal":
            attempts = f"{step.timeout}s wait"
        else:
            attempts = f"{step.attempts} × " + (f"{step.timeout}s" if step.timeout else "—")
        table.add_row(
            Text(mark + step.slug, style="bold" if step.critical else ""),
            step.kind,
            attempts,
            format_seconds(sum(step.retry_delays)) if step.retry_delays else "",
            format_seconds(step.start_delay) if step.start_delay else "",
            escape(worst),
            format_seconds(step.start),
            format_seconds(step.finish),
        )
    lines = [
        Text(
            f"worst case: {format_seconds(case.worst_case)}"
            + (f" ({case.worst_case} s)" if case.worst_case is not None else "")
        ),
        Text("critical path (*): " + " → ".join(case.critical_path)),
    ]
    if case.serialized_maps:
        lines.append(Text("serialized by a step limit: " + ", ".join(case.serialized_maps)))
    if case.unbounded_subflows:
        lines.append(Text("child runs with no time limit: " + ", ".join(case.unbounded_subflows)))
    if case.deadline is not None:
        verdict = "within it" if case.within_deadline else "EXCEEDED"
        lines.append(
            Text(
                f"deadline: {case.deadline} s: {verdict}",
                style="green" if case.within_deadline else "bold red",
            )
        )
    if case.concurrency is not None:
        limit = case.concurrency
        per = f" per {limit['key']}" if "key" in limit else ""
        lines.append(
            Text(f"runs: at most {limit['limit']} in progress{per} (queue time not counted)")
        )
    return Group(table, *lines)


def schema_command() -> None:
    """Print the JSON Schema of a flow file (for editors and other tools).

    Exit status: 0 always.
    """
    from pgflow_yaml.schema import schema_text

    sys.stdout.write(schema_text())


def register(app: typer.Typer) -> None:
    """Add ``validate``, ``explain`` and ``schema`` to ``app``."""
    app.command("validate")(validate_command)
    app.command("explain")(explain_command)
    app.command("schema")(schema_command)
