"""Helpers shared by the definition tests."""

from __future__ import annotations

import textwrap

from pgflow_yaml.diagnostics import Diagnostic
from pgflow_yaml.validate import ValidationReport, validate_source


def check(text: str, name: str = "flow.yaml") -> ValidationReport:
    """Validate dedented flow text."""
    return validate_source(textwrap.dedent(text).lstrip("\n"), name)


def codes(report: ValidationReport) -> list[tuple[str, int | None, int | None]]:
    """Return ``(code, line, col)`` of every diagnostic."""
    return [(d.code, d.line, d.col) for d in report.diagnostics]


def only(report: ValidationReport, code: str) -> Diagnostic:
    """Return the single diagnostic of a report, checking its code."""
    assert [d.code for d in report.diagnostics] == [code], report.render("text")
    return report.diagnostics[0]


def steps_yaml(*steps: str, head: str = "slug: f\n") -> str:
    """Build a flow file from step bodies written as ``key: value`` lines joined by ``;``."""
    out = [head.rstrip("\n"), "steps:"]
    for step in steps:
        lines = [part.strip() for part in step.split(";")]
        out.append(f"  - {lines[0]}")
        out += [f"    {line}" for line in lines[1:]]
    return "\n".join(out) + "\n"
