"""No input, however malformed, makes validation raise or print a traceback.

Valid flow files are mutated (lines deleted, indentation swapped, random bytes, huge values,
deep nesting) and fed to ``validate_source`` and to the command line. ``PGFLOW_SLOW=1`` runs
many more examples.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pgflow_yaml.cli import app
from pgflow_yaml.validate import ValidationReport, validate_paths, validate_source

REPO = Path(__file__).resolve().parent.parent.parent
SEEDS = sorted(
    p
    for folder in (REPO / "flows_examples", REPO / "tests" / "corpus" / "invalid")
    for p in folder.iterdir()
    if p.suffix in {".yaml", ".yml", ".toml"}
)
SLOW = os.environ.get("PGFLOW_SLOW") == "1"
FAST = settings(
    max_examples=2000 if SLOW else 150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def seed_files() -> st.SearchStrategy[Path]:
    return st.sampled_from(SEEDS)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """Return ``(name, bytes)``: a seed file with a few mutations applied."""
    path = draw(seed_files())
    lines = path.read_bytes().split(b"\n")
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(["delete", "indent", "bytes", "huge", "nest", "duplicate", "swap"])
        )
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        if not lines:
            lines = [b""]
        if kind == "delete" and len(lines) > 1:
            del lines[i]
        elif kind == "indent":
            stripped = lines[i].lstrip(b" \t")
            indent = draw(st.sampled_from([b"", b" ", b"   ", b"\t", b"  \t", b"      "]))
            lines[i] = indent + stripped
        elif kind == "bytes":
            noise = draw(st.binary(min_size=1, max_size=12))
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + noise + lines[i][at:]
        elif kind == "huge":
            value = draw(
                st.sampled_from(
                    [
                        b"9" * 5000,
                        b"-" + b"9" * 400,
                        b"x" * 200_000,
                        b"[" + b"a, " * 20_000 + b"a]",
                        b"1e999999",
                        b'"' + "\u00e9".encode() * 10_000 + b'"',
                    ]
                )
            )
            head, sep, _ = lines[i].partition(b"=" if path.suffix == ".toml" else b":")
            lines[i] = head + (sep or b":") + b" " + value
        elif kind == "nest":
            depth = draw(st.integers(50, 3000))
            style = draw(st.sampled_from(["flow_list", "flow_map", "block", "toml"]))
            if style == "flow_list":
                value = b"[" * depth + b"1" + b"]" * depth
            elif style == "flow_map":
                value = b"{a: " * depth + b"1" + b"}" * depth
            elif style == "toml":
                value = b"[" * depth + b"1" + b"]" * depth
                lines.insert(i, b"x = " + value)
                continue
            else:
                value = b"\n".join(b"  " * d + b"k:" for d in range(min(depth, 400)))
            lines.insert(i, b"if: " + value if style != "block" else value)
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "swap" and len(lines) > 1:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
    return path.name, b"\n".join(lines)


def assert_renders(report: ValidationReport) -> None:
    assert all(d.code != "PGF100" for d in report.diagnostics), report.render()
    report.render("text")
    json.loads(report.render("json"))
    report.render("github")
    assert report.exit_code in (0, 1)


@FAST
@given(mutated())
def test_mutated_files_never_raise(case: tuple[str, bytes]) -> None:
    name, raw = case
    assert_renders(validate_source(raw, name))


@FAST
@given(st.binary(max_size=2000), st.sampled_from(["f.yaml", "f.toml"]))
def test_random_bytes_never_raise(raw: bytes, name: str) -> None:
    assert_renders(validate_source(raw, name))


@FAST
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{},'\"#&*!|>? \t\n%@`=.$1")), max_size=300))
def test_yaml_punctuation_soup_never_raises(text: str) -> None:
    assert_renders(validate_source(text, "f.yaml"))
    assert_renders(validate_source(text, "f.toml"))


@settings(
    max_examples=200 if SLOW else 25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(mutated(), min_size=1, max_size=3))
def test_cli_never_prints_a_traceback(cases: list[tuple[str, bytes]]) -> None:
    runner = CliRunner()
    with tempfile.TemporaryDirectory() as tmp:
        for n, (name, raw) in enumerate(cases):
            (Path(tmp) / f"{n}_{name}").write_bytes(raw)
        for fmt in ("text", "json", "github"):
            result = runner.invoke(app, ["validate", "--format", fmt, tmp])
            assert result.exception is None or isinstance(result.exception, SystemExit)
            assert result.exit_code in (0, 1), result.stderr
            assert "Traceback" not in result.stderr + result.stdout
            assert "PGF100" not in result.stderr + result.stdout
            if fmt == "json":
                json.loads(result.stdout)
        assert validate_paths([tmp]).exit_code == result.exit_code
