"""Starting, watching, cancelling and retrying runs, from Python and from the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pgflow_yaml import AsyncClient
from pgflow_yaml.client import Client
from pgflow_yaml.worker.errors import FlowNotFound, InvalidInput, RunNotFound, WaitTimeout

from .conftest import EXAMPLES, StartWorker


class Result:
    """What a CLI invocation printed and returned."""

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def pgflow(dsn: str, *args: str) -> Result:
    """Run the ``pgflow`` CLI in-process (typer's runner), stdout and stderr apart."""
    from typer.testing import CliRunner

    from pgflow_yaml.cli import app

    result = CliRunner().invoke(app, [*args, "--dsn", dsn])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Result(result.exit_code, result.stdout, result.stderr)


def test_cancel_stops_a_run_and_ignores_its_in_flight_result(
    start_worker: StartWorker, client: Client
) -> None:
    worker = start_worker(extra=("--flow", "e2e_sleep"))
    run_id = client.start("e2e_sleep", {"sleep": 1})
    worker.wait_for("task_started", run_id=run_id)
    run = client.cancel(run_id)
    assert run.status == "cancelled"
    worker.wait_for("task_completed", run_id=run_id)
    assert client.wait(run_id, 5).status == "cancelled"
    states = {s.step_slug: s.status for s in client.get(run_id).steps}
    assert states == {"slow": "cancelled", "after": "cancelled"}
    assert not worker.events("task_started")[1:]  # "after" never ran


def test_retry_restarts_a_failed_run_from_its_failed_step(
    start_worker: StartWorker, client: Client, tmp_path: Path
) -> None:
    start_worker(extra=("--flow", "e2e_gate"))
    marker = tmp_path / "open"
    run_id = client.start("e2e_gate", {"marker": str(marker)})
    assert client.wait(run_id, 30).status == "failed"
    marker.touch()
    assert client.retry(run_id).status == "started"
    run = client.wait(run_id, 30)
    assert run.status == "completed"
    assert run.output == {"after": {"run": {"marker": str(marker)}, "gate": "open"}}


def test_start_checks_the_input_schema_of_a_flow_file(client: Client) -> None:
    with pytest.raises(InvalidInput) as info:
        client.start(EXAMPLES / "order_pipeline.yaml", {"order_id": 17})
    message = str(info.value)
    assert "'items' is a required property" in message
    assert "input['order_id']: 17 is not of type 'string'" in message


def test_start_many_checks_every_input_before_starting_any(client: Client) -> None:
    flows = Client(client.dsn, flows=[EXAMPLES / "order_pipeline.yaml"])
    with pytest.raises(InvalidInput, match=r"inputs\[1\]"):
        flows.start_many("order_pipeline", [{"order_id": "a", "items": []}, {"order_id": "b"}])
    assert client.runs() == []


def test_clear_errors_for_unknown_flows_runs_and_unfinished_waits(
    client: Client, start_worker: StartWorker
) -> None:
    with pytest.raises(FlowNotFound, match="no flow 'nope'"):
        client.start("nope", {})
    with pytest.raises(RunNotFound):
        client.get("00000000-0000-0000-0000-000000000000")
    with pytest.raises(RunNotFound, match="not a run id"):
        client.get("not-a-uuid")
    start_worker(extra=("--flow", "e2e_sleep"))
    run_id = client.start("e2e_sleep", {"sleep": 1})
    with pytest.raises(WaitTimeout, match="still started"):
        client.wait(run_id, 0.2)


def test_the_async_client_starts_and_waits(start_worker: StartWorker, dsn: str) -> None:
    import asyncio

    start_worker(EXAMPLES, extra=("--flow", "hello"))

    async def main() -> Any:
        async with AsyncClient(dsn) as aclient:
            ids = await aclient.start_many("hello", [{"name": "a"}, {"name": "b"}])
            return [await aclient.wait(run_id, 30) for run_id in ids]

    runs = asyncio.run(main())
    assert [r.output for r in runs] == [
        {"shout": {"message": "HELLO, A!"}},
        {"shout": {"message": "HELLO, B!"}},
    ]


def test_cli_start_status_runs_cancel_retry_speak_json(
    start_worker: StartWorker, dsn: str, tmp_path: Path
) -> None:
    start_worker(EXAMPLES, extra=("--flow", "hello"))
    done = pgflow(dsn, "start", "hello", "--input", '{"name": "cli"}', "--wait", "--json")
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "completed"
    assert run["output"] == {"shout": {"message": "HELLO, CLI!"}}

    input_file = tmp_path / "input.json"
    input_file.write_text('{"name": "file"}')
    started = pgflow(dsn, "start", "hello", "--input", f"@{input_file}", "--json")
    second = json.loads(started.stdout)["run_id"]

    status = pgflow(dsn, "status", run["run_id"], "--json")
    summary = json.loads(status.stdout)["step_summary"]
    assert [(s["step_slug"], s["status"], s["attempts"]) for s in summary] == [
        ("greet", "completed", 1),
        ("shout", "completed", 1),
    ]
    listed = json.loads(pgflow(dsn, "runs", "--flow", "hello", "--json").stdout)
    assert {r["run_id"] for r in listed} == {run["run_id"], second}

    text = pgflow(dsn, "status", run["run_id"])
    assert "greet" in text.stdout and "completed" in text.stdout
    watched = pgflow(dsn, "status", run["run_id"], "--watch")
    assert watched.returncode == 0 and "shout" in watched.stdout

    refused = pgflow(dsn, "retry", run["run_id"])
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: ") and "Traceback" not in refused.stderr
    cancelled = pgflow(dsn, "cancel", run["run_id"], "--json")
    assert json.loads(cancelled.stdout)["status"] == "completed"  # a finished run stays as is

    bad = pgflow(dsn, "start", "hello", "--input", "{nope")
    assert bad.returncode == 2 and "not valid JSON" in bad.stderr
    missing = pgflow(dsn, "status", "00000000-0000-0000-0000-000000000000")
    assert missing.returncode == 1 and "no run" in missing.stderr


def test_pgflow_run_is_the_one_shot_dev_command(dsn: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pgflow_yaml",
            "run",
            str(EXAMPLES / "order_pipeline.yaml"),
            "--input",
            '{"order_id": "A-17", "items": [{"sku": "mug", "qty": 2}, {"sku": "tee", "qty": 1}]}',
            "--dsn",
            dsn,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"receipt": "order A-17: paid 30, 2 shipped"}
    assert "ship_item" in result.stderr and "2/2" in result.stderr
