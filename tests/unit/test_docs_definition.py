"""The diagnostics reference lists every code the package can emit, each with an example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent.parent


def emitted_codes() -> set[str]:
    found: set[str] = set()
    for path in (REPO / "pgflow_yaml").rglob("*.py"):
        found |= set(re.findall(r'"(PGF\d{3})"', path.read_text(encoding="utf-8")))
    return found


def test_every_code_is_documented_with_an_example() -> None:
    doc = (REPO / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    sections = dict(re.findall(r"^### (PGF\d{3}): .*?\n(.*?)(?=^### |\Z)", doc, re.S | re.M))
    assert set(sections) == emitted_codes()
    for code, body in sections.items():
        if code not in {"PGF100", "PGF102", "PGF209"}:  # no input reaches these on purpose
            assert f"[{code}]" in body, f"{code} has no example output"


def test_pre_commit_hook_runs_validate() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    (hook,) = hooks
    assert hook["entry"] == "pgflow validate"
    assert re.search(hook["files"], "flows/etl.yaml") and re.search(hook["files"], "x.toml")


def test_flow_format_examples_are_valid() -> None:
    from pgflow_yaml.validate import validate_source

    doc = (REPO / "docs" / "flow-format.md").read_text(encoding="utf-8")
    examples = [
        (lang, body)
        for lang, body in re.findall(r"```(yaml|toml)\n(.*?)```", doc, re.S)
        if "steps" in body and "repos:" not in body
    ]
    assert len(examples) == 2
    for lang, body in examples:
        report = validate_source(body, f"example.{lang}")
        assert report.ok, report.render()


def test_diagnostics_examples_are_real_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pgflow_yaml.validate import validate_paths

    doc = (REPO / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    # a source block directly followed by its output (never reaching across another block)
    pairs = re.findall(r"```(?:yaml|toml)\n((?:(?!```).)*?)```\n\n```text\n(.*?)\n```", doc, re.S)
    assert len(pairs) >= 30
    monkeypatch.chdir(tmp_path)
    checked = 0
    for source, expected in pairs:
        name = expected.split(":", 1)[0]
        if "\ufffd" in source or "…" in source:  # bytes that are not UTF-8, or abridged
            continue
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
        rendered = validate_paths([name]).render("text")
        assert expected in rendered, f"{name}:\n{rendered}"
        path.unlink()
        checked += 1
    assert checked >= 30
