"""The development loop follows edits: option changes applied (or warned about), shapes
replaced or dropped on request, handlers checked before any database is made.

``pgflow run`` and ``pgflow flows`` go through ``CliRunner`` on the test database;
``run-worker`` is a real subprocess (it serves until stopped).
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner, Result

from pgflow_yaml.cli import app
from pgflow_yaml.worker.startup import SHAPE_WAYS_ON
from tests.e2e.conftest import WorkerProcess, worker_command

_ids = itertools.count()

FLOW = """\
slug: {slug}
steps:
  - slug: extract
    handler: {module}:extract
  - slug: load
    handler: {module}:load
    depends_on: [extract]
    timeout: 3
"""
HANDLERS = "def extract(value):\n    return 1\n\n\ndef load(value):\n    return value\n"


def pgflow(*argv: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(argv), input=input)


def make_flow(folder: Path) -> tuple[Path, str]:
    """Write a flow file and its handler module (a fresh module name); return (file, slug)."""
    n = next(_ids)
    slug, module = f"etl{os.getpid()}_{n}", f"devloop_steps_{os.getpid()}_{n}"
    (folder / f"{module}.py").write_text(HANDLERS)
    path = folder / f"{slug}.yaml"
    path.write_text(FLOW.format(slug=slug, module=module))
    return path, slug


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def step_timeout(dsn: str, slug: str) -> Any:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "select opt_timeout from pgflow.steps where flow_slug = %s and step_slug = 'load'",
            (slug,),
        ).fetchone()
    assert row is not None
    return row[0]


def test_run_applies_a_changed_option_and_says_so(dsn: str, tmp_path: Path) -> None:
    path, slug = make_flow(tmp_path)
    first = pgflow("run", str(path), "--dsn", dsn)
    assert first.exit_code == 0, first.stderr
    assert first.stderr.splitlines()[0] == f"flow {slug}: installed"
    edit(path, "timeout: 3", "timeout: 4")
    second = pgflow("run", str(path), "--dsn", dsn)
    assert second.exit_code == 0, second.stderr
    assert second.stderr.splitlines()[0] == f"flow {slug}: step load timeout 3 → 4 (applied)"
    assert step_timeout(dsn, slug) == 4
    edit(path, "    timeout: 4\n", "")
    third = pgflow("run", str(path), "--dsn", dsn)
    assert third.stderr.splitlines()[0] == (
        f"flow {slug}: step load timeout 4 → (inherited) (applied)"
    )
    assert step_timeout(dsn, slug) is None
    assert "(applied)" not in pgflow("run", str(path), "--dsn", dsn).stderr


def _serve_once(path: Path, dsn: str, tmp_path: Path, *, apply: bool) -> WorkerProcess:
    argv = [a for a in worker_command(path, dsn=dsn) if apply or a != "--apply"]
    log_path = tmp_path / f"worker-{next(_ids)}.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    worker = WorkerProcess(proc, log_path)
    try:
        worker.wait_for("worker_started")
    finally:
        worker.signal(signal.SIGTERM)
        worker.wait()
    return worker


def test_run_worker_warns_about_a_changed_option_and_applies_it_with_apply(
    dsn: str, tmp_path: Path
) -> None:
    path, slug = make_flow(tmp_path)
    _serve_once(path, dsn, tmp_path, apply=True)
    edit(path, "timeout: 3", "timeout: 4")
    kept = _serve_once(path, dsn, tmp_path, apply=False)
    (warning,) = kept.events("flow_checked")
    assert (warning["level"], warning["message"]) == (
        "warning",
        f"flow {slug}: step load timeout 3 → 4 (not applied: start with --apply, or apply the "
        "flow's compiled migration)",
    )
    assert step_timeout(dsn, slug) == 3
    applied = _serve_once(path, dsn, tmp_path, apply=True)
    assert [(e["level"], e["message"]) for e in applied.events("flow_checked")] == [
        ("info", f"flow {slug}: step load timeout 3 → 4 (applied)")
    ]
    assert step_timeout(dsn, slug) == 4


def test_a_shape_change_names_both_ways_on(dsn: str, tmp_path: Path) -> None:
    path, slug = make_flow(tmp_path)
    assert pgflow("run", str(path), "--dsn", dsn).exit_code == 0
    edit(path, "    depends_on: [extract]\n", "")
    result = pgflow("run", str(path), "--dsn", dsn)
    assert result.exit_code == 1
    assert result.stderr == (
        "error: the database does not hold the flows of these files:\n"
        f"  flow '{slug}' ({path}) differs from the database:\n"
        "    - step 1 (load): depends_on [extract] vs []\n"
        f"{SHAPE_WAYS_ON}\n"
    )
    assert "`pgflow flows drop SLUG`" in SHAPE_WAYS_ON and "--replace" in SHAPE_WAYS_ON
    refused = pgflow("run", str(path), "--dsn", dsn, "--replace", "--yes")
    assert refused.exit_code == 2
    assert refused.stderr == (
        "error: --replace drops flows on the embedded development server only; on this "
        "server drop the flow with `pgflow flows drop SLUG`\n"
    )
    assert pgflow("run", str(path), "--dsn", dsn, "--yes").stderr == (
        "error: --yes only applies with --replace\n"
    )


def test_flows_list_and_drop(dsn: str, tmp_path: Path) -> None:
    path, slug = make_flow(tmp_path)
    assert pgflow("run", str(path), "--dsn", dsn).exit_code == 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select pgflow.start_flow(%s, '{}')", (slug,))
    listed = pgflow("flows", "list", "--dsn", dsn, "--json")
    assert listed.exit_code == 0
    assert listed.stdout == (
        "[\n  {\n"
        f'    "flow_slug": "{slug}",\n    "steps": 2,\n    "runs": 2,\n    "in_progress": 1\n'
        "  }\n]\n"
    )
    table = pgflow("flows", "list", "--dsn", dsn).stdout.splitlines()
    assert table[0].split() == ["flow", "┃", "steps", "┃", "runs", "┃", "in", "progress"]
    assert table[2].split() == [slug, "│", "2", "│", "2", "│", "1"]

    busy = pgflow("flows", "drop", slug, "--dsn", dsn, "--yes")
    assert (busy.exit_code, busy.stderr) == (
        1,
        f"error: flow '{slug}' has 1 run(s) in progress: cancel them, or use --force\n",
    )
    declined = pgflow("flows", "drop", slug, "--dsn", dsn, "--force", input="n\n")
    assert declined.exit_code == 1
    assert declined.stderr == (  # the prompt, then (the answer being piped) the error
        f"drop flow '{slug}' with its 2 step(s) and 2 run(s) (1 in progress)? [y/N]:"
        f"error: flow '{slug}' was not dropped\n"
    )
    dropped = pgflow("flows", "drop", slug, "--dsn", dsn, "--force", input="y\n")
    assert dropped.exit_code == 0, dropped.stderr
    assert dropped.stdout.endswith(f"\ndropped flow {slug} and 2 run(s)\n")  # after the echo
    assert pgflow("flows", "list", "--dsn", dsn).stdout == "no flows\n"
    missing = pgflow("flows", "drop", slug, "--dsn", dsn, "--yes")
    assert (missing.exit_code, missing.stderr) == (
        1,
        f"error: no flow '{slug}' in the database (apply its migration first)\n",
    )
    again = pgflow("run", str(path), "--dsn", dsn)  # the slug is free again
    assert again.exit_code == 0 and again.stderr.startswith(f"flow {slug}: installed\n")


def test_flows_drop_is_refused_to_a_worker_login(dsn: str, tmp_path: Path) -> None:
    path, slug = make_flow(tmp_path)
    assert pgflow("run", str(path), "--dsn", dsn).exit_code == 0
    from pgflow_yaml import core

    with psycopg.connect(dsn, autocommit=True) as conn:
        core.install(conn, roles=True)
        login = f"pgflow_devloop_{os.getpid()}"
        conn.execute(f"drop role if exists {login}")
        conn.execute(f"create role {login} login in role pgflow_worker")
    try:
        worker_dsn = psycopg.conninfo.make_conninfo(dsn, user=login)
        refused = pgflow("flows", "drop", slug, "--dsn", worker_dsn, "--yes")
        assert (refused.exit_code, refused.stderr) == (  # drop_flow itself: test_grants.py
            1,
            "error: permission denied for table runs\n",
        )
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"drop owned by {login}")
            conn.execute(f"drop role {login}")


@pytest.mark.parametrize("command", ["run", "run-worker"])
def test_handlers_are_checked_before_any_database_is_made(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("PGFLOW_DATABASE_URL", "DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    project = tmp_path / "project"
    (project / "pkg").mkdir(parents=True)
    module = f"devloop_mod_{os.getpid()}_{next(_ids)}"
    (project / "pkg" / f"{module}.py").write_text("def step(value):\n    return value\n")
    flow = project / "flow.yaml"
    flow.write_text(f"slug: typo\nsteps:\n  - slug: a\n    handler: {module}:step\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = pgflow(command, str(flow))
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: 1 handler(s) cannot be imported:\n"
        f'  {flow}: step \'a\': handler "{module}:step": no module named "{module}" '
        f"(searched {project}, {elsewhere}, then PYTHONPATH and the installed packages)\n"
        f'    hint: did you mean "pkg.{module}:step"? ("{module}" is in {project / "pkg"})\n'
    )
    assert list(elsewhere.iterdir()) == []  # no embedded database made here


def test_options_are_never_rewritten_on_pgflow_081(pgflow081_dsn: str, tmp_path: Path) -> None:
    from pgflow_yaml.worker.service import check_database, load

    path, slug = make_flow(tmp_path)
    flows, _ = load([path])
    assert [n.text for n in check_database(pgflow081_dsn, flows, apply=True)] == [
        f"flow {slug}: installed"
    ]
    edit(path, "timeout: 3", "timeout: 4")
    flows, _ = load([path])
    notes = check_database(pgflow081_dsn, flows, apply=True)
    assert [(n.text, n.warning) for n in notes] == [
        (
            f"flow {slug}: step load timeout 3 → 4 (not applied: pgflow 0.8.1 cannot change "
            "options in place)",
            True,
        )
    ]
    assert step_timeout(pgflow081_dsn, slug) == 3
