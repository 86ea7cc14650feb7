"""``pgflow run`` of a run that fails: the error and its traceback, not a ``null`` output, and
exit status 1 (as its --help says); a completed run prints its output, exit status 0."""

from __future__ import annotations

import json
import os
from pathlib import Path

from typer.testing import CliRunner

from pgflow_yaml.cli import app

FLOW = """\
slug: {slug}
max_attempts: 1
steps:
  - slug: explode
    handler: {module}:explode
"""
HANDLERS = "def explode(value):\n    raise ValueError('boom ' + str(value['run']['n']))\n"


def _flow(folder: Path, name: str, handlers: str) -> Path:
    slug, module = f"{name}{os.getpid()}", f"run_outcome_{name}_{os.getpid()}"
    (folder / f"{module}.py").write_text(handlers)
    path = folder / f"{slug}.yaml"
    path.write_text(FLOW.format(slug=slug, module=module))
    return path


def test_a_failed_run_prints_its_error_and_exits_1(dsn: str, tmp_path: Path) -> None:
    path = _flow(tmp_path, "fails", HANDLERS)
    result = CliRunner().invoke(app, ["run", str(path), "--dsn", dsn, "--input", '{"n": 7}'])
    assert result.exit_code == 1
    assert "null" not in result.stdout
    last = result.stderr.rstrip().splitlines()[-1]
    assert last.startswith("error: run ")
    assert last.endswith(" failed at step explode (task 0, attempt 1 of 1): ValueError: boom 7")
    assert "Traceback (most recent call last)" in result.stderr
    assert "raise ValueError('boom ' + str(value['run']['n']))" in result.stderr


def test_a_failed_run_with_json_prints_the_run_with_its_error(dsn: str, tmp_path: Path) -> None:
    path = _flow(tmp_path, "failsjson", HANDLERS)
    result = CliRunner().invoke(
        app, ["run", str(path), "--dsn", dsn, "--input", '{"n": 1}', "--json"]
    )
    assert result.exit_code == 1
    assert '"status": "failed"' in result.stdout
    assert '"message": "ValueError: boom 1"' in result.stdout


def test_a_completed_run_prints_its_output(dsn: str, tmp_path: Path) -> None:
    path = _flow(tmp_path, "works", "def explode(value):\n    return {'n': value['run']['n']}\n")
    result = CliRunner().invoke(app, ["run", str(path), "--dsn", dsn, "--input", '{"n": 2}'])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"explode": {"n": 2}}
