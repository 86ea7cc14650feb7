"""Read TOML into plain data, and find where each key and value is in the text.

``tomllib`` parses but gives no positions, so :func:`locate_toml` scans the text (already
accepted by ``tomllib``) for where each key and value is.
"""

from __future__ import annotations

import bisect
import math
import re
import tomllib
from typing import Any

from pgflow_yaml.diagnostics import Diagnostic, DocPath
from pgflow_yaml.loader.source import MAX_DEPTH, SourceDoc, SpanTuple
from pgflow_yaml.model import Span

_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)|\(at end of document\)")


def parse_toml(doc: SourceDoc) -> list[Diagnostic]:
    """Set ``doc.data`` (and its spans) from its TOML text; return what is wrong with it."""
    try:
        data = tomllib.loads(doc.text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_POSITION.search(message)
        line, col = 1, 1
        if match and match.group(1):
            line, col = int(match.group(1)), int(match.group(2))
        elif match:
            line = doc.text.count("\n") + 1
            col = len(doc.text) - (doc.text.rfind("\n") + 1) + 1
        problem = _TOML_POSITION.sub("", message).strip()
        span = Span(doc.file, line, col, line, col + 1)
        return [Diagnostic("PGF113", f"TOML syntax error: {problem}", doc.file, span)]
    except RecursionError:
        span = Span(doc.file, 1, 1)
        return [Diagnostic("PGF118", "nested too deeply", doc.file, span)]
    except ValueError as exc:  # e.g. an integer too long for Python to convert
        span = Span(doc.file, 1, 1)
        return [Diagnostic("PGF113", f"TOML value cannot be read: {exc}", doc.file, span)]
    diagnostics: list[Diagnostic] = []
    depth_path = _too_deep(data, ())
    if depth_path is not None:
        return [
            Diagnostic(
                "PGF118",
                f"nested more than {MAX_DEPTH} levels deep",
                doc.file,
                Span(doc.file, 1, 1),
                depth_path[:8],
                "flatten the structure",
            )
        ]
    try:
        doc._values, doc._keys = locate_toml(doc.text)
    except Exception:  # positions are a nicety; the data is already valid
        doc._values, doc._keys = {}, {}
    doc.data = _toml_to_json(data, (), doc, diagnostics) if data else None
    return diagnostics


def _too_deep(value: Any, path: DocPath) -> DocPath | None:
    if len(path) >= MAX_DEPTH:
        return path
    items: Any = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    for k, v in items:
        if isinstance(v, dict | list):
            found = _too_deep(v, (*path, k))
            if found is not None:
                return found
    return None


def _toml_to_json(value: Any, path: DocPath, doc: SourceDoc, out: list[Diagnostic]) -> Any:
    """Return TOML data with what JSON cannot hold (dates, times, nan) reported."""
    if isinstance(value, dict):
        return {k: _toml_to_json(v, (*path, k), doc, out) for k, v in value.items()}
    if isinstance(value, list):
        return [_toml_to_json(v, (*path, i), doc, out) for i, v in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        out.append(
            Diagnostic(
                "PGF122",
                f"{value} is not a JSON number",
                doc.file,
                doc.span(path),
                path,
                "use a finite number",
            )
        )
    elif not isinstance(value, str | int | float | bool):
        out.append(
            Diagnostic(
                "PGF122",
                f"a TOML {type(value).__name__} is not a JSON value",
                doc.file,
                doc.span(path),
                path,
                "write it as a quoted string",
            )
        )
        return str(value)
    return value


class _TomlLocator:
    """Walk TOML text that ``tomllib`` accepted, recording where every key and value is."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.starts = [0] + [m.end() for m in re.finditer(r"\n", text)]
        self.values: dict[DocPath, SpanTuple] = {}
        self.keys: dict[DocPath, SpanTuple] = {}
        self.array_tables: dict[tuple[str, ...], int] = {}

    def pos(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line] + 1

    def span(self, start: int, end: int) -> SpanTuple:
        return (*self.pos(start), *self.pos(end))

    def peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def skip(self, newlines: bool) -> None:
        text = self.text
        while self.i < len(text):
            c = text[self.i]
            if c in " \t" or (newlines and c in "\r\n"):
                self.i += 1
            elif c == "#":
                while self.i < len(text) and text[self.i] != "\n":
                    self.i += 1
            else:
                return

    def run(self) -> None:
        table: DocPath = ()
        while True:
            self.skip(newlines=True)
            if self.i >= len(self.text):
                return
            if self.text.startswith("[[", self.i):
                start = self.i
                self.i += 2
                raw = self.key_parts()
                self.i = self.text.index("]]", self.i) + 2
                table = self.resolve(raw, new_array=True)
                self.values[table] = self.span(start, self.i)
                self.keys.setdefault(table[:-1], self.span(start, self.i))
            elif self.peek() == "[":
                start = self.i
                self.i += 1
                raw = self.key_parts()
                self.i = self.text.index("]", self.i) + 1
                table = self.resolve(raw, new_array=False)
                self.values[table] = self.span(start, self.i)
                self.keys.setdefault(table, self.span(start, self.i))
            else:
                self.key_value(table)

    def resolve(self, raw: list[tuple[str, int, int]], new_array: bool) -> DocPath:
        path: list[str | int] = []
        names: list[str] = []
        for n, (name, _, _) in enumerate(raw):
            names.append(name)
            path.append(name)
            key = tuple(names)
            if new_array and n == len(raw) - 1:
                self.array_tables[key] = self.array_tables.get(key, -1) + 1
                path.append(self.array_tables[key])
            elif key in self.array_tables:
                path.append(self.array_tables[key])
        return tuple(path)

    def key_parts(self) -> list[tuple[str, int, int]]:
        parts: list[tuple[str, int, int]] = []
        while True:
            self.skip(newlines=False)
            start = self.i
            c = self.peek()
            if c in "\"'":
                end = self.string_end()
                name = tomllib.loads(f"k = {self.text[start:end]}")["k"]
                self.i = end
            else:
                while self.i < len(self.text) and (
                    self.text[self.i].isalnum() or self.text[self.i] in "_-"
                ):
                    self.i += 1
                name = self.text[start : self.i]
            parts.append((name, start, self.i))
            self.skip(newlines=False)
            if self.peek() == ".":
                self.i += 1
                continue
            return parts

    def key_value(self, base: DocPath) -> None:
        parts = self.key_parts()
        path = base
        for name, start, end in parts:
            path = (*path, name)
            self.keys.setdefault(path, self.span(start, end))
        if self.peek() == "=":
            self.i += 1
        self.skip(newlines=False)
        self.value(path)

    def string_end(self) -> int:
        text, i = self.text, self.i
        quote = text[i]
        if text.startswith(quote * 3, i):
            j = i + 3
            while True:
                j = text.index(quote * 3, j)
                if quote == '"' and _escaped(text, j):
                    j += 1
                    continue
                j += 3
                while j < len(text) and text[j] == quote:
                    j += 1
                return j
        j = i + 1
        while j < len(text) and text[j] != quote:
            j += 2 if quote == '"' and text[j] == "\\" else 1
        return j + 1

    def value(self, path: DocPath) -> None:
        start = self.i
        c = self.peek()
        if c in "\"'":
            self.i = self.string_end()
        elif c == "[":
            self.i += 1
            index = 0
            while True:
                self.skip(newlines=True)
                if self.peek() in ("]", ""):
                    self.i += 1
                    break
                if self.peek() == ",":
                    self.i += 1
                    continue
                self.value((*path, index))
                index += 1
        elif c == "{":
            self.i += 1
            while True:
                self.skip(newlines=True)
                if self.peek() in ("}", ""):
                    self.i += 1
                    break
                if self.peek() == ",":
                    self.i += 1
                    continue
                self.key_value(path)
        else:
            while self.i < len(self.text) and self.text[self.i] not in ",]}\n#":
                self.i += 1
            end = self.i
            while end > start and self.text[end - 1] in " \t\r":
                end -= 1
            self.values[path] = self.span(start, end)
            return
        self.values[path] = self.span(start, self.i)


def _escaped(text: str, j: int) -> bool:
    backslashes = 0
    while j - backslashes - 1 >= 0 and text[j - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def locate_toml(text: str) -> tuple[dict[DocPath, SpanTuple], dict[DocPath, SpanTuple]]:
    """Find where each value and key of a valid TOML document is.

    Args:
        text: TOML that ``tomllib`` parsed without error.

    Returns:
        Value spans and key spans by document path (tables of ``[[steps]]`` get their index).
    """
    locator = _TomlLocator(text)
    locator.run()
    return locator.values, locator.keys
