"""Read YAML into plain data, reporting what PyYAML would accept silently.

YAML is composed into nodes (``yaml.compose``, with libyaml when present) and converted by
hand, which is where what PyYAML accepts silently becomes a diagnostic: duplicate keys,
non-string keys, several documents, tabs in indentation, values that are not JSON (timestamps,
``nan``, custom tags), merge keys and recursive aliases. The nodes stay on the document, which
finds positions through them.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pgflow_yaml.diagnostics import Diagnostic, DocPath
from pgflow_yaml.loader.source import MAX_DEPTH, SourceDoc, node_span
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


_TAG = "tag:yaml.org,2002:"
_MAX_DIGITS = 100
_BOOL_WORDS = {"yes", "no", "on", "off", "y", "n", "true", "false"}


def _mark_span(mark: Any, file: str) -> Span:
    if mark is None:
        return Span(file, 1, 1)
    return Span(file, mark.line + 1, mark.column + 1, mark.line + 1, mark.column + 2)


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


def parse_yaml(doc: SourceDoc) -> list[Diagnostic]:
    """Set ``doc.data`` (and its nodes) from its YAML text; return what is wrong with it."""
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
        line, col, end_line, end_col = node_span(node)
        if end_line != line:
            end_line, end_col = line, col + 1
        span = Span(self.file, line, col, end_line, end_col)
        self.diagnostics.append(Diagnostic(code, message, self.file, span, path, hint))

    def _unsupported_tag(self, node: Node, path: DocPath) -> None:
        self._report(
            "PGF122",
            f"unsupported YAML tag {node.tag}: a flow file holds plain JSON-like data",
            node,
            path,
            "remove the tag",
        )

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
            self._unsupported_tag(node, path)
        return [
            item.value
            if item.tag == _STR and type(item) is ScalarNode
            else self.convert(item, (*path, i))
            for i, item in enumerate(node.value)
        ]

    def _mapping(self, node: MappingNode, path: DocPath) -> dict[str, Any]:
        if node.tag != _MAP:
            self._unsupported_tag(node, path)
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
        self._unsupported_tag(node, path)
        return value
