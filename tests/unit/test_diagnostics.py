"""Rendering diagnostics: text with carets, JSON, GitHub annotations."""

from __future__ import annotations

import json

from pgflow_yaml.diagnostics import (
    Diagnostic,
    format_doc_path,
    render_github,
    render_json,
    render_text,
)
from pgflow_yaml.model import Span

SOURCE = "slug: etl\nsteps:\n  - slug: report\n    depends_on: [summarise]\n"
DIAG = Diagnostic(
    "PGF302",
    'step "report" depends on unknown step "summarise"',
    "flows/etl.yaml",
    Span("flows/etl.yaml", 4, 18, 4, 27),
    ("steps", 0, "depends_on", 0),
    'did you mean "summarize"?',
)


def test_text_has_position_source_line_caret_and_path() -> None:
    assert render_text([DIAG], {"flows/etl.yaml": SOURCE}) == (
        'flows/etl.yaml:4:18: error[PGF302] step "report" depends on unknown step "summarise"\n'
        "  |\n"
        "4 |     depends_on: [summarise]\n"
        '  |                  ^^^^^^^^^ did you mean "summarize"?\n'
        "   = at steps[0].depends_on[0]\n\n"
    )


def test_text_without_source_or_span() -> None:
    diag = Diagnostic("PGF101", "no such file or folder", "nope.yaml", hint="check the path")
    assert render_text([diag]) == (
        "nope.yaml: error[PGF101] no such file or folder\n   = hint: check the path\n\n"
    )


def test_text_escapes_control_characters_from_user_text() -> None:
    diag = Diagnostic(
        "PGF202",
        'unknown key "\x1b[31mred"',
        "f.yaml",
        Span("f.yaml", 1, 1, 1, 4),
        ("\x1b[31mred",),
        "[bold]not markup[/bold]",
    )
    text = render_text([diag], {"f.yaml": "\x1b[31mred: 1\n"})
    assert "\x1b" not in text
    assert "\\x1b[31mred" in text
    assert "[bold]not markup[/bold]" in text  # shown verbatim: no rich markup involved


def test_text_keeps_the_caret_under_a_token_after_tabs() -> None:
    diag = Diagnostic("PGF115", "tab", "f.yaml", Span("f.yaml", 1, 3, 1, 4))
    text = render_text([diag], {"f.yaml": "  \tx: 1\n"})
    lines = text.splitlines()
    assert lines[2] == "1 |    x: 1"
    assert lines[3] == "  |   ^"


def test_text_windows_very_long_lines_around_the_caret() -> None:
    line = "x" * 5000 + "TARGET" + "y" * 5000
    diag = Diagnostic("PGF203", "long", "f.yaml", Span("f.yaml", 1, 5001, 1, 5007))
    source_line, caret_line = render_text([diag], {"f.yaml": line}).splitlines()[2:4]
    assert len(source_line) < 200
    column = caret_line.index("^")
    assert source_line[column : column + 6] == "TARGET"
    assert caret_line.split("|", 1)[1].strip() == "^^^^^^"


def test_multiline_span_underlines_the_rest_of_the_first_line() -> None:
    diag = Diagnostic("PGF201", "missing", "f.yaml", Span("f.yaml", 1, 3, 3, 1))
    caret = render_text([diag], {"f.yaml": "- slug: a\n  other: b\n"}).splitlines()[3]
    assert caret == "  |   ^^^^^^^"


def test_doc_path_formatting() -> None:
    assert format_doc_path(("steps", 3, "depends_on", 0)) == "steps[3].depends_on[0]"
    assert format_doc_path(("input_schema", "my key")) == 'input_schema["my key"]'
    assert format_doc_path(()) == "(document root)"


def test_json_rendering() -> None:
    data = json.loads(render_json([DIAG], ok=False))
    assert data["ok"] is False
    assert data["diagnostics"] == [
        {
            "code": "PGF302",
            "severity": "error",
            "message": 'step "report" depends on unknown step "summarise"',
            "file": "flows/etl.yaml",
            "line": 4,
            "column": 18,
            "end_line": 4,
            "end_column": 27,
            "doc_path": "steps[0].depends_on[0]",
            "hint": 'did you mean "summarize"?',
        }
    ]


def test_github_rendering_escapes_properties_and_message() -> None:
    diag = Diagnostic(
        "PGF202", "50% wrong\nreally", "dir,x/f:1.yaml", Span("dir,x/f:1.yaml", 2, 3, 2, 5)
    )
    assert render_github([diag]) == (
        "::error file=dir%2Cx/f%3A1.yaml,line=2,col=3,endColumn=5,title=PGF202::"
        "50%25 wrong%0Areally\n"
    )
    assert render_github([DIAG]).startswith("::error file=flows/etl.yaml,line=4,col=18,")
    assert "(at steps[0].depends_on[0])%0Adid you mean" in render_github([DIAG])


def test_color_only_adds_ansi_codes() -> None:
    import re

    plain = render_text([DIAG], {"flows/etl.yaml": SOURCE})
    colored = render_text([DIAG], {"flows/etl.yaml": SOURCE}, color=True)
    assert "\x1b[1;31merror[PGF302]\x1b[0m" in colored
    assert re.sub(r"\x1b\[[0-9;]*m", "", colored) == plain
