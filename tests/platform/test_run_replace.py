"""``pgflow run --replace`` on the embedded development server: a changed shape is dropped
(after a confirmation, or with ``--yes``) with its runs and installed again.

A real embedded server in a folder under ``.pgflow/`` of the repository (short socket paths),
started by the command itself, as a user's first ``pgflow run`` does.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner, Result

from pgflow_yaml import embedded
from pgflow_yaml.cli import app

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Return an empty project folder (the current directory); stop its embedded server after."""
    for var in ("PGFLOW_DATABASE_URL", "DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    root = REPO / ".pgflow" / f"replace-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    root.mkdir(parents=True)
    monkeypatch.chdir(root)
    try:
        yield root
    finally:
        try:
            if (root / ".pgflow" / "db" / "PG_VERSION").exists():
                embedded.stop(root / ".pgflow" / "db", force=True)
        finally:
            shutil.rmtree(root, ignore_errors=True)


def pgflow(*argv: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(argv), input=input)


def test_run_replace_drops_a_changed_flow_after_confirming(project: Path) -> None:
    module = f"replace_steps_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    (project / f"{module}.py").write_text(
        "def a(value):\n    return 1\n\n\ndef b(value):\n    return 2\n"
    )
    flow = project / "demo.yaml"
    flow.write_text(f"slug: demo\nsteps:\n  - slug: a\n    handler: {module}:a\n")
    first = pgflow("run", "demo.yaml")
    assert first.exit_code == 0, first.stderr
    flow.write_text(flow.read_text() + f"  - slug: b\n    handler: {module}:b\n")

    declined = pgflow("run", "demo.yaml", "--replace", input="n\n")
    assert declined.exit_code == 1
    assert declined.stderr.startswith(
        "flow demo differs from the database:\n"
        "  - step count: 1 vs 2\n"
        "  - step 1 (b): only in the compiled flow\n"
        "drop flow demo and all its runs, then install the file's? [y/N]:"
        "error: the database does not hold the flows of these files:\n"
    )

    confirmed = pgflow("run", "demo.yaml", "--replace", input="y\n")
    assert confirmed.exit_code == 0, confirmed.stderr
    assert "flow demo: dropped with its runs and installed again\n" in confirmed.stderr
    assert confirmed.stdout.endswith('{\n  "a": 1,\n  "b": 2\n}\n')

    url = embedded.server_url(project / ".pgflow" / "db")
    with psycopg.connect(url) as conn:
        assert conn.execute("select count(*) from pgflow.runs").fetchone() == (1,)
        assert conn.execute("select count(*) from pgflow.steps").fetchone() == (2,)

    flow.write_text(f"slug: demo\nsteps:\n  - slug: b\n    handler: {module}:b\n")
    quiet = pgflow("run", "demo.yaml", "--replace", "--yes")
    assert quiet.exit_code == 0, quiet.stderr
    assert quiet.stderr.startswith("flow demo: dropped with its runs and installed again\n")
    assert quiet.stdout.endswith('{\n  "b": 2\n}\n')
