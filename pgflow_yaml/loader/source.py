"""The source document of a flow file: its text, its data, and where each part of it is.

A reader (:mod:`~pgflow_yaml.loader.yaml_reader`, :mod:`~pgflow_yaml.loader.toml_reader`)
fills in the data and what it needs to find positions: the composed YAML nodes, or the spans
the TOML scanner recorded. Spans are 1-based; ``end_col`` is exclusive (``end_col - col``
characters are underlined).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pgflow_yaml.diagnostics import DocPath
from pgflow_yaml.model import Span

FLOW_SUFFIXES = (".yaml", ".yml", ".toml")
MAX_DEPTH = 64
"""Deepest nesting accepted in a flow file (patterns and input schemas included)."""

SpanTuple = tuple[int, int, int, int]
"""``(line, col, end_line, end_col)``, 1-based, end exclusive."""


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
        return [Span(self.file, *node_span(item)) for item in node.value[:count]]

    def _yaml_span(self, path: DocPath, key: bool) -> SpanTuple | None:
        node: Node | None = self._root
        best = node_span(node) if node is not None else None
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
                return node_span(key_node)
            node = child
            best = node_span(node)
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


def node_span(node: Node) -> SpanTuple:
    """Return where a composed YAML node is in the text."""
    start, end = node.start_mark, node.end_mark
    return (start.line + 1, start.column + 1, end.line + 1, end.column + 1)
