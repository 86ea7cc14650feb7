"""Read a flow file (YAML or TOML) into plain data plus a way to find any part of it in the text.

YAML is composed into nodes (``yaml.compose``, with libyaml when present) and converted by
hand, which is where what PyYAML accepts silently becomes a diagnostic: duplicate keys,
non-string keys, several documents, tabs in indentation, values that are not JSON (timestamps,
``nan``, custom tags), merge keys and recursive aliases. TOML is parsed by ``tomllib``, which
gives no positions, so :func:`locate_toml` scans the text for where each key and value is.

Spans are 1-based; ``end_col`` is exclusive (``end_col - col`` characters are underlined).
"""

from __future__ import annotations

import bisect
import hashlib
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pgflow_yaml.diagnostics import Diagnostic, DocPath
from pgflow_yaml.model import Span

try:
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.composer import Composer
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser, Composer):  # type: ignore[no-redef]
        """The pure-Python parser and composer, when libyaml is missing."""

        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)


FLOW_SUFFIXES = (".yaml", ".yml", ".toml")
MAX_DEPTH = 64
"""Deepest nesting accepted in a flow file (patterns and input schemas included)."""

SpanTuple = tuple[int, int, int, int]
"""``(line, col, end_line, end_col)``, 1-based, end exclusive."""

_TAG = "tag:yaml.org,2002:"
_MAX_DIGITS = 100
_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)|\(at end of document\)")
_BOOL_WORDS = {"yes", "no", "on", "off", "y", "n", "true", "false"}


@dataclass
class SourceDoc:
    """A flow file read from disk: its text, its data, and where each part of it is.

    Attributes:
        file: The file as the user named it.
        text: The decoded text.
        sha256: Hex digest of the file's bytes.
        kind: ``"yaml"`` or ``"toml"``.
        data: The document as plain JSON-like data (``None`` when it could not be read).
    """

    file: str
    text: str
    sha256: str
    kind: Literal["yaml", "toml"]
    data: Any = None
    _root: Node | None = field(default=None, repr=False)
    _values: dict[DocPath, SpanTuple] = field(default_factory=dict, repr=False)
    _keys: dict[DocPath, SpanTuple] = field(default_factory=dict, repr=False)

    def span(self, path: DocPath, *, key: bool = False) -> Span:
        """Return the span of the value at ``path`` (or of its key, with ``key=True``).

        A path that does not exist falls back to its nearest existing ancestor, so every
        diagnostic gets a position.
        """
        found = self._yaml_span(path, key) if self._root is not None else None
        if found is None and self.kind == "toml":
            found = self._toml_span(path, key)
        if found is None:
            return Span(self.file, 1, 1)
        line, col, end_line, end_col = found
        return Span(self.file, line, col, end_line, end_col)

    def item_spans(self, path: DocPath, count: int) -> list[Span]:
        """Return the spans of the first ``count`` items of the list at ``path`` (one lookup)."""
        if self._root is None:
            return [self.span((*path, i)) for i in range(count)]
        node: Node | None = self._root
        for part in path:
            node = _child(node, part)
        if not isinstance(node, SequenceNode) or len(node.value) < count:
            return [self.span((*path, i)) for i in range(count)]
        return [Span(self.file, *_node_span(item)) for item in node.value[:count]]

    def _yaml_span(self, path: DocPath, key: bool) -> SpanTuple | None:
        node: Node | None = self._root
        best = _node_span(node) if node is not None else None
        for i, part in enumerate(path):
            child: Node | None = None
            key_node: Node | None = None
            if isinstance(node, MappingNode) and isinstance(part, str):
                for k, v in node.value:
                    if isinstance(k, ScalarNode) and k.value == part:
                        key_node, child = k, v
                        break
            elif isinstance(node, SequenceNode) and isinstance(part, int) and part >= 0:
                child = node.value[part] if part < len(node.value) else None
            if child is None:
                return best
            if key and i == len(path) - 1 and key_node is not None:
                return _node_span(key_node)
            node = child
            best = _node_span(node)
        return best

    def _toml_span(self, path: DocPath, key: bool) -> SpanTuple | None:
        if key and path in self._keys:
            return self._keys[path]
        for n in range(len(path), -1, -1):
            found = self._values.get(path[:n])
            if found is not None:
                return found
        return None


def _child(node: Node | None, part: str | int) -> Node | None:
    if isinstance(node, MappingNode) and isinstance(part, str):
        for k, v in node.value:
            if isinstance(k, ScalarNode) and k.value == part:
                return v  # type: ignore[no-any-return]
    elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return node.value[part]  # type: ignore[no-any-return]
    return None


def _node_span(node: Node) -> SpanTuple:
    start, end = node.start_mark, node.end_mark
    return (start.line + 1, start.column + 1, end.line + 1, end.column + 1)


def _mark_span(mark: Any, file: str) -> Span:
    if mark is None:
        return Span(file, 1, 1)
    return Span(file, mark.line + 1, mark.column + 1, mark.line + 1, mark.column + 2)


def read_file(path: Path, display: str) -> tuple[SourceDoc | None, list[Diagnostic]]:
    """Read and parse one flow file.

    Args:
        path: The file on disk.
        display: How to name it in diagnostics.

    Returns:
        The document (``None`` when the file could not be read; its ``data`` is ``None`` when
        it could not be parsed) and what was wrong with it.
    """
    try:
        if path.exists() and not path.is_dir() and not path.is_file():
            return None, [Diagnostic("PGF103", "not a regular file", display)]
        raw = path.read_bytes()
    except IsADirectoryError:
        return None, [Diagnostic("PGF103", "is a directory, not a flow file", display)]
    except FileNotFoundError:
        return None, [Diagnostic("PGF101", "no such file", display)]
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return None, [Diagnostic("PGF102", f"cannot read the file: {reason}", display)]
    kind: Literal["yaml", "toml"] = "toml" if path.suffix.lower() == ".toml" else "yaml"
    return parse_bytes(raw, display, kind)


def parse_bytes(
    raw: bytes, display: str, kind: Literal["yaml", "toml"]
) -> tuple[SourceDoc | None, list[Diagnostic]]:
    """Decode and parse the bytes of a flow file (what :func:`read_file` does once it has read)."""
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        col = len(raw[line_start : exc.start].decode("utf-8", "replace")) + 1
        byte = raw[exc.start : exc.start + 1].hex()
        shown = SourceDoc(display, raw.decode("utf-8", "replace"), digest, kind)
        return shown, [
            Diagnostic(
                "PGF110",
                f"the file is not UTF-8 text (byte 0x{byte} at offset {exc.start})",
                display,
                Span(display, line, col, line, col + 1),
                hint="save the file as UTF-8",
            )
        ]
    if text.startswith("\ufeff"):
        text = text[1:]
    doc = SourceDoc(display, text, digest, kind)
    diagnostics = _parse_toml(doc) if kind == "toml" else _parse_yaml(doc)
    if not diagnostics and doc.data is None:
        diagnostics.append(
            Diagnostic(
                "PGF111",
                "the file is empty",
                display,
                Span(display, 1, 1, 1, 2),
                hint="a flow file needs at least a slug and a list of steps",
            )
        )
    return doc, diagnostics


# --------------------------------------------------------------------------- YAML


def _tab_diagnostics(doc: SourceDoc) -> tuple[list[Diagnostic], set[int]]:
    """Find tabs in the indentation of lines that hold content (PyYAML takes some silently)."""
    found: list[Diagnostic] = []
    lines: set[int] = set()
    if "\t" not in doc.text:
        return found, lines
    for number, line in enumerate(doc.text.split("\n"), start=1):
        stripped = line.lstrip(" \t")
        indent = line[: len(line) - len(stripped)]
        if "\t" in indent and stripped and not stripped.startswith("#"):
            col = indent.index("\t") + 1
            lines.add(number)
            found.append(
                Diagnostic(
                    "PGF115",
                    "tab character in indentation",
                    doc.file,
                    Span(doc.file, number, col, number, col + 1),
                    hint="YAML indentation must use spaces",
                )
            )
    return found, lines


def _parse_yaml(doc: SourceDoc) -> list[Diagnostic]:
    diagnostics, tab_lines = _tab_diagnostics(doc)
    loader = _Loader(doc.text)
    try:
        if not loader.check_node():
            return diagnostics
        root = loader.get_node()
        if root is None:
            return diagnostics
        second = loader.get_node() if loader.check_node() else None
        if second is not None:
            mark = second.start_mark
            diagnostics.append(
                Diagnostic(
                    "PGF114",
                    "the file holds several YAML documents; a flow file holds one",
                    doc.file,
                    Span(doc.file, mark.line + 1, mark.column + 1),
                    hint="put each flow in its own file",
                )
            )
    except yaml.MarkedYAMLError as exc:
        span = _mark_span(exc.problem_mark, doc.file)
        if span.line not in tab_lines:
            problem = exc.problem or "invalid YAML"
            context = f" ({exc.context})" if exc.context else ""
            hint = None
            start = exc.context_mark
            if exc.context and start is not None and start.line + 1 != span.line:
                what = re.sub(r"^while (parsing|scanning) ", "", exc.context)
                hint = f"{what} started at line {start.line + 1}, column {start.column + 1}"
            diagnostics.append(
                Diagnostic(
                    "PGF112", f"YAML syntax error: {problem}{context}", doc.file, span, hint=hint
                )
            )
        return diagnostics
    except (yaml.YAMLError, RecursionError) as exc:
        message = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        diagnostics.append(
            Diagnostic("PGF112", f"YAML syntax error: {message}", doc.file, Span(doc.file, 1, 1))
        )
        return diagnostics
    finally:
        loader.dispose()
    converter = _Converter(doc.file, aliases="&" in doc.text)
    doc.data = converter.convert(root, ())
    doc._root = root
    diagnostics.extend(converter.diagnostics)
    return diagnostics


_SAFE = yaml.SafeLoader("")
_IMPLICIT = yaml.resolver.Resolver.yaml_implicit_resolvers
_STR, _SEQ, _MAP = _TAG + "str", _TAG + "seq", _TAG + "map"
_INT, _NULL, _BOOL, _FLOAT = _TAG + "int", _TAG + "null", _TAG + "bool", _TAG + "float"
_MERGE, _TIMESTAMP = _TAG + "merge", _TAG + "timestamp"


class _Loader(_Parser, yaml.resolver.BaseResolver):
    """Compose YAML with libyaml, resolving plain scalars like ``yaml.SafeLoader`` does.

    The resolution table is the safe loader's own; only the bookkeeping for path resolvers
    (which the safe loader never has) is skipped, which halves the cost of a large file.
    """

    def __init__(self, stream: str) -> None:
        _Parser.__init__(self, stream)
        yaml.resolver.BaseResolver.__init__(self)

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is ScalarNode:
            if implicit[0]:
                tag = _RESOLVED.get(value)
                if tag is None:
                    tag = _STR
                    for candidate, regexp in _IMPLICIT.get(value[:1], ()):
                        if regexp.match(value):
                            tag = str(candidate)
                            break
                    if len(_RESOLVED) < 4096:
                        _RESOLVED[value] = tag
                return tag
            return _STR
        return _SEQ if kind is SequenceNode else _MAP


_RESOLVED: dict[str, str] = {}


class _Converter:
    """Turn composed YAML nodes into JSON-like data, reporting what JSON cannot hold."""

    def __init__(self, file: str, aliases: bool) -> None:
        self.file = file
        self.diagnostics: list[Diagnostic] = []
        self._aliases = aliases  # without anchors no node is reached twice: skip the memo
        self._done: dict[int, Any] = {}
        self._active: set[int] = set()

    def _report(self, code: str, message: str, node: Node, path: DocPath, hint: str) -> None:
        line, col, end_line, end_col = _node_span(node)
        if end_line != line:
            end_line, end_col = line, col + 1
        span = Span(self.file, line, col, end_line, end_col)
        self.diagnostics.append(Diagnostic(code, message, self.file, span, path, hint))

    def convert(self, node: Node, path: DocPath) -> Any:
        if type(node) is ScalarNode:
            return self._scalar(node, path)
        if not self._aliases and len(path) < MAX_DEPTH:
            if type(node) is MappingNode:
                return self._mapping(node, path)
            return self._sequence(node, path)  # type: ignore[arg-type]
        key = id(node)
        if key in self._done:
            return self._done[key]
        if key in self._active:
            self._report(
                "PGF121",
                "recursive YAML alias: the value contains itself",
                node,
                path,
                "a flow file must be a tree; copy the value instead of aliasing it",
            )
            return None
        if len(path) >= MAX_DEPTH:
            self._report(
                "PGF118",
                f"nested more than {MAX_DEPTH} levels deep",
                node,
                path,
                "flatten the structure",
            )
            return None
        self._active.add(key)
        try:
            if isinstance(node, SequenceNode):
                result: Any = self._sequence(node, path)
            else:
                assert isinstance(node, MappingNode)
                result = self._mapping(node, path)
        finally:
            self._active.discard(key)
        self._done[key] = result
        return result

    def _sequence(self, node: SequenceNode, path: DocPath) -> list[Any]:
        if node.tag != _SEQ:
            self._report(
                "PGF122",
                f"unsupported YAML tag {node.tag}: a flow file holds plain JSON-like data",
                node,
                path,
                "remove the tag",
            )
        return [
            item.value
            if item.tag == _STR and type(item) is ScalarNode
            else self.convert(item, (*path, i))
            for i, item in enumerate(node.value)
        ]

    def _mapping(self, node: MappingNode, path: DocPath) -> dict[str, Any]:
        if node.tag != _MAP:
            self._report(
                "PGF122",
                f"unsupported YAML tag {node.tag}: a flow file holds plain JSON-like data",
                node,
                path,
                "remove the tag",
            )
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self._report(
                    "PGF120",
                    "YAML merge keys (<<) are not supported in flow files",
                    key_node,
                    path,
                    "write the keys out in full",
                )
                continue
            if key_node.tag != _STR or not isinstance(key_node, ScalarNode):
                self._non_string_key(key_node, path)
                continue
            name = key_node.value
            if name in result:
                first = next(k for k, _ in node.value if k.value == name).start_mark
                self._report(
                    "PGF116",
                    f'duplicate key "{name}"',
                    key_node,
                    (*path, name),
                    f"first defined at line {first.line + 1}; YAML would silently keep the last",
                )
                continue
            if value_node.tag == _STR and type(value_node) is ScalarNode:
                result[name] = value_node.value
            else:
                result[name] = self.convert(value_node, (*path, name))
        return result

    def _non_string_key(self, key_node: Node, path: DocPath) -> None:
        if isinstance(key_node, ScalarNode):
            shown = key_node.value
            kind = key_node.tag.removeprefix(_TAG)
            kind = {"bool": "boolean", "int": "integer", "float": "number"}.get(kind, kind)
            hint = f'quote it: "{shown}"' if shown else "give the key a name"
            if kind == "boolean" and shown.lower() in _BOOL_WORDS:
                hint = f'YAML reads {shown} as a boolean; quote it: "{shown}"'
            article = "an" if kind[:1] in "aeiou" else "a"
            message = f"key {shown or '(empty)'} is {article} {kind}, not a string"
        else:
            message = "a key must be a plain string, not a list or a mapping"
            hint = "use a string key"
        self._report("PGF117", message, key_node, path, hint)

    def _scalar(self, node: ScalarNode, path: DocPath) -> Any:
        tag = node.tag
        value = node.value
        if tag == _STR:
            return value
        if tag == _INT:
            if len(value) > _MAX_DIGITS:
                self._report(
                    "PGF122",
                    f"the number has {len(value)} digits; a flow file allows at most {_MAX_DIGITS}",
                    node,
                    path,
                    "quote it if you mean text",
                )
                return value
            if value.isdigit():
                return int(value)
            return _SAFE.construct_yaml_int(node)
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return value.lower() in {"yes", "true", "on", "y"}
        if tag == _FLOAT:
            number = _SAFE.construct_yaml_float(node)
            if math.isfinite(number):
                return number
            self._report(
                "PGF122",
                f"{value} is not a JSON number",
                node,
                path,
                f'quote it if you mean the text "{value}"',
            )
            return value
        if tag == _TIMESTAMP:
            self._report(
                "PGF122",
                f"YAML reads {value} as a timestamp, which JSON cannot hold",
                node,
                path,
                f'quote it: "{value}"',
            )
            return value
        self._report(
            "PGF122",
            f"unsupported YAML tag {tag}: a flow file holds plain JSON-like data",
            node,
            path,
            "remove the tag",
        )
        return value


# --------------------------------------------------------------------------- TOML


def _parse_toml(doc: SourceDoc) -> list[Diagnostic]:
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
