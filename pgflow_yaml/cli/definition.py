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
from typing import Annotated, TextIO

import typer


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
    few at a time). Queue time behind a flow concurrency limit is not counted.

    Exit status: 0 explained (even over the deadline), 1 invalid flow, 2 unreadable input.
    """
    from pgflow_yaml.cli.common import print_json, wide_console
    from pgflow_yaml.flow_control import explain_paths, render_explanation

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
