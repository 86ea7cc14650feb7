"""Every invalid flow file of the corpus produces exactly the diagnostics its first line names.

A corpus file starts with ``# expect: PGF302 14:20`` (several separated by commas); adding a
case means adding a file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pgflow_yaml.validate import validate_paths

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "invalid"
FILES = sorted(p for p in CORPUS.iterdir() if p.suffix in {".yaml", ".yml", ".toml"})
EXPECT = re.compile(r"(PGF\d{3}) (\d+):(\d+)")


def expected(path: Path) -> set[tuple[str, int, int]]:
    first = path.read_bytes().split(b"\n", 1)[0].decode("ascii")
    assert first.startswith("# expect: "), f"{path.name} lacks an '# expect:' first line"
    found = {(code, int(line), int(col)) for code, line, col in EXPECT.findall(first)}
    assert found, f"{path.name}: no code in {first!r}"
    return found


def test_corpus_is_large_enough() -> None:
    assert len(FILES) >= 60
    codes = {code for path in FILES for code, _, _ in expected(path)}
    assert {c[:4] for c in codes} >= {"PGF1", "PGF2", "PGF3", "PGF4"}


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_invalid_file(path: Path) -> None:
    report = validate_paths([path])
    got = {(d.code, d.line, d.col) for d in report.diagnostics}
    assert got == expected(path), report.render("text")
    assert report.exit_code == 1
    assert report.flows == []
