"""Positioned diagnostics and their three renderings: text, JSON and GitHub annotations.

A :class:`Diagnostic` is plain data; the renderers return strings and never print, so the CLI
decides where each goes (text to stderr, JSON to stdout). No rich markup is involved: user text
(keys, values, file names) is rendered verbatim, with control characters made visible so that a
hostile file cannot drive the terminal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pgflow_yaml.model import Span

Severity = Literal["error", "warning"]
DocPath = tuple[str | int, ...]
"""A location inside a document: mapping keys and sequence indexes from the root."""

IO_CODES = frozenset({"PGF101", "PGF102", "PGF103", "PGF104", "PGF105"})
"""Codes that mean the input could not be read at all (exit code 2, like a usage error)."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_MAX_PARTS = 12  # parts of a document path shown in full
_MAX_SHOWN = 160  # columns of a source line shown around the caret


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in one file.

    Attributes:
        code: Stable code, ``PGF`` and three digits (1xx file and YAML, 2xx schema, 3xx graph,
            4xx handlers).
        message: One sentence, no trailing period.
        file: The file as the user named it (or as found under a folder they named).
        span: Where in the file, when known (``None`` for problems with the file as a whole).
        doc_path: Where in the document (``("steps", 3, "depends_on", 0)``), when known.
        hint: What to do about it, when something useful can be said.
        severity: ``"error"`` makes the file invalid; ``"warning"`` does not.
    """

    code: str
    message: str
    file: str
    span: Span | None = None
    doc_path: DocPath | None = None
    hint: str | None = None
    severity: Severity = "error"

    @property
    def line(self) -> int | None:
        """Return the 1-based line, if the diagnostic has a position."""
        return self.span.line if self.span else None

    @property
    def col(self) -> int | None:
        """Return the 1-based column, if the diagnostic has a position."""
        return self.span.col if self.span else None

    def sort_key(self) -> tuple[str, int, int, str]:
        """Return a key ordering diagnostics by file, then position, then code."""
        if self.span is None:
            return (self.file, 0, 0, self.code)
        return (self.file, self.span.line, self.span.col, self.code)

    def to_dict(self) -> dict[str, Any]:
        """Return the diagnostic as JSON-ready data (the ``--format json`` record)."""
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "column": self.col,
            "end_line": self.span.end_line if self.span else None,
            "end_column": self.span.end_col if self.span else None,
            "doc_path": format_doc_path(self.doc_path) if self.doc_path is not None else None,
            "hint": self.hint,
        }


def format_doc_path(path: DocPath) -> str:
    """Return a document path as users write it: ``steps[3].depends_on[0]``.

    Keys that are not identifiers are quoted: ``input_schema["my key"]``. Very deep paths are
    shortened in the middle.
    """
    if len(path) > _MAX_PARTS:
        head = format_doc_path(path[: _MAX_PARTS - 2])
        return head + "…" + "".join(_path_part(p, first=False) for p in path[-2:])
    return "".join(_path_part(p, first=i == 0) for i, p in enumerate(path)) or "(document root)"


def _path_part(part: str | int, *, first: bool) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    if _IDENTIFIER.match(part):
        return part if first else f".{part}"
    return f"[{json.dumps(part, ensure_ascii=False)}]"


def visible(text: str) -> str:
    """Return ``text`` with control characters replaced by ``\\xNN`` escapes (tabs by a space)."""
    text = text.replace("\t", " ")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _caret_line(span: Span, line_text: str) -> tuple[str, str]:
    """Return the shown source line and the caret line under it (both already windowed)."""
    start = max(span.col - 1, 0)
    if span.end_line == span.line and span.end_col is not None and span.end_col > span.col:
        width = span.end_col - span.col
    elif span.end_line is not None and span.end_line > span.line:
        width = max(len(line_text.rstrip()) - start, 1)
    else:
        width = 1
    start = min(start, len(line_text))
    # One shown character per source character keeps the caret aligned: tabs become one
    # space, other control characters one replacement mark.
    shown = _CONTROL.sub("\ufffd", line_text.replace("\t", " "))
    offset = 0
    if len(shown) > _MAX_SHOWN:
        offset = max(0, min(start - _MAX_SHOWN // 3, len(shown) - _MAX_SHOWN))
        shown = shown[offset : offset + _MAX_SHOWN]
        if offset:
            shown = "…" + shown[1:]
        if offset + _MAX_SHOWN < len(line_text):
            shown = shown[:-1] + "…"
    caret_start = start - offset
    width = max(1, min(width, len(shown) - caret_start if caret_start < len(shown) else 1))
    return shown.rstrip(), " " * caret_start + "^" * width


_STYLES = {"bold": "1", "error": "1;31", "warning": "1;33", "gutter": "1;34", "hint": "36"}


def render_text(
    diagnostics: Iterable[Diagnostic],
    sources: Mapping[str, str] | None = None,
    *,
    color: bool = False,
) -> str:
    """Render diagnostics for a terminal, each with its source line and a caret.

    Args:
        diagnostics: What to render, in the order given.
        sources: Text of each file by its name, to show the offending line.
        color: Add ANSI colors (only around text already made safe by :func:`visible`).

    Returns:
        The whole report, one block per diagnostic, ending with a newline (or ``""``).
    """

    def paint(style: str, text: str) -> str:
        return f"\x1b[{_STYLES[style]}m{text}\x1b[0m" if color and text else text

    sources = sources or {}
    blocks: list[str] = []
    line_cache: dict[str, list[str]] = {}
    for diag in diagnostics:
        where = visible(diag.file)
        if diag.span is not None:
            where += f":{diag.span.line}:{diag.span.col}"
        label = paint(diag.severity, f"{diag.severity}[{diag.code}]")
        lines = [f"{paint('bold', where + ':')} {label} {paint('bold', visible(diag.message))}"]
        text = sources.get(diag.file)
        hint_shown = False
        if diag.span is not None and text is not None:
            if diag.file not in line_cache:
                line_cache[diag.file] = [line.rstrip("\r") for line in text.split("\n")]
                if text.endswith("\n"):
                    line_cache[diag.file].pop()  # no line after the last newline
            file_lines = line_cache[diag.file]
            if 1 <= diag.span.line <= len(file_lines):
                shown, caret = _caret_line(diag.span, file_lines[diag.span.line - 1])
                number = str(diag.span.line)
                pad = " " * len(number)
                tail = f" {paint('hint', visible(diag.hint))}" if diag.hint else ""
                hint_shown = bool(diag.hint)
                bar = paint("gutter", f"{pad} |")
                lines += [
                    bar,
                    f"{paint('gutter', f'{number} |')} {shown}",
                    f"{bar} {paint(diag.severity, caret)}{tail}",
                ]
        if diag.doc_path:
            lines.append(f"   = at {visible(format_doc_path(diag.doc_path))}")
        if diag.hint and not hint_shown:
            lines.append(f"   = hint: {paint('hint', visible(diag.hint))}")
        blocks.append("\n".join(lines))
    return "".join(block + "\n\n" for block in blocks)


def render_json(diagnostics: Sequence[Diagnostic], **summary: Any) -> str:
    """Render diagnostics as one JSON document (extra keyword arguments join the summary)."""
    payload = dict(summary)
    payload["diagnostics"] = [d.to_dict() for d in diagnostics]
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def _gh_escape(value: str, *, prop: bool) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        value = value.replace(":", "%3A").replace(",", "%2C")
    return value


def render_github(diagnostics: Iterable[Diagnostic]) -> str:
    """Render diagnostics as GitHub Actions workflow commands (``::error file=...::message``)."""
    out: list[str] = []
    for diag in diagnostics:
        props = [f"file={_gh_escape(diag.file, prop=True)}"]
        if diag.span is not None:
            props.append(f"line={diag.span.line}")
            props.append(f"col={diag.span.col}")
            if diag.span.end_line == diag.span.line and diag.span.end_col is not None:
                props.append(f"endColumn={diag.span.end_col}")
        props.append(f"title={diag.code}")
        message = diag.message
        if diag.doc_path:
            message += f" (at {format_doc_path(diag.doc_path)})"
        if diag.hint:
            message += f"\n{diag.hint}"
        level = "error" if diag.severity == "error" else "warning"
        out.append(f"::{level} {','.join(props)}::{_gh_escape(message, prop=False)}\n")
    return "".join(out)
