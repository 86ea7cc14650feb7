"""Read a flow file from disk or from bytes: decode it, then hand it to its reader."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pgflow_yaml.diagnostics import Diagnostic
from pgflow_yaml.loader.source import SourceDoc
from pgflow_yaml.loader.toml_reader import parse_toml
from pgflow_yaml.loader.yaml_reader import parse_yaml
from pgflow_yaml.model import Span


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
    diagnostics = parse_toml(doc) if kind == "toml" else parse_yaml(doc)
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
