"""``pgflow validate`` and ``pgflow schema`` through the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pgflow_yaml.cli import app

REPO = Path(__file__).resolve().parent.parent.parent
CORPUS = REPO / "tests" / "corpus" / "invalid"
runner = CliRunner()


def test_valid_examples_exit_0(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = runner.invoke(app, ["validate", "flows_examples", "--check-handlers"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert "6 files checked, 6 valid flows" in result.stderr


def test_text_goes_to_stderr_with_caret() -> None:
    result = runner.invoke(app, ["validate", str(CORPUS / "unknown_dependency.yaml")])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "unknown_dependency.yaml:14:18: error[PGF302]" in result.stderr
    assert '                 ^^^^^^^^^ did you mean "summarize"?' in result.stderr
    assert "= at steps[3].depends_on[0]" in result.stderr


def test_json_goes_to_stdout() -> None:
    result = runner.invoke(
        app, ["validate", "--format", "json", str(CORPUS / "cycle_of_three.yaml")]
    )
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["exit_code"] == 1
    assert [(d["code"], d["line"], d["column"]) for d in data["diagnostics"]] == [
        ("PGF303", 6, 18),
        ("PGF305", 9, 18),
    ]


def test_github_annotations() -> None:
    result = runner.invoke(app, ["validate", "-f", "github", str(CORPUS / "self_dependency.yaml")])
    assert result.exit_code == 1
    assert result.stdout.startswith("::error file=")
    assert ",line=8,col=21," in result.stdout
    assert "title=PGF304::" in result.stdout


def test_usage_errors_exit_2() -> None:
    assert runner.invoke(app, ["validate"]).exit_code == 2
    assert runner.invoke(app, ["validate", "--format", "xml", "x.yaml"]).exit_code == 2


def test_missing_path_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "error[PGF101]" in result.stderr


def test_schema_prints_the_json_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_console_script_end_to_end(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("slug: bad\nsteps:\n  - slug: a\n    handler: m.n:f\n    depnds_on: []\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pgflow_yaml", "validate", str(bad), str(REPO / "flows_examples")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert f'{bad}:5:5: error[PGF202] unknown key "depnds_on" in step "a"' in proc.stderr
    assert "7 files checked, 1 error in 1 file" in proc.stderr
