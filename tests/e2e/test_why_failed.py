"""Why a run failed, seen from `pgflow start --wait`, `pgflow status` and the client, with a
real worker: the failing step, its task, type, message, attempt and traceback; the siblings
that the failure cut short end `cancelled`, keeping a failure that came too late."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgflow_yaml import RunFailed
from pgflow_yaml.client import Client, StepError

from .conftest import StartWorker, wait_until
from .test_run_control import pgflow


def test_start_wait_status_and_client_say_which_step_failed_and_why(
    start_worker: StartWorker, client: Client, dsn: str, tmp_path: Path
) -> None:
    worker = start_worker(extra=("--flow", "e2e_fail"))
    release = tmp_path / "release"
    started = pgflow(
        dsn, "start", "e2e_fail", "--input", json.dumps({"release": str(release)}), "--wait"
    )
    assert started.returncode == 1, started.stderr
    run_id, *rest = started.stdout.splitlines()
    run_id, status = run_id.split()
    assert status == "failed"
    assert rest == [
        "step quick (task 0, attempt 2 of 2): ValueError: boom",
        f"(traceback: pgflow status {run_id} --tracebacks)",
    ]

    # the sibling fails once its run has failed: its step is cancelled, its task keeps why
    release.touch()
    worker.wait_for("task_failed", run_id=run_id, step_slug="slow")
    wait_until(
        lambda: any(t.error_message for t in client.tasks(run_id) if t.step_slug == "slow"),
        what="the late failure of slow recorded",
    )
    run = client.get(run_id)
    assert [(s.step_slug, s.status) for s in run.steps] == [
        ("quick", "failed"),
        ("slow", "cancelled"),
        ("after", "cancelled"),
    ]
    assert all(s.cancelled_at for s in run.steps if s.status == "cancelled")
    error = run.error
    assert error is not None
    assert (error.step_slug, error.task_index, error.attempt, error.max_attempts) == (
        "quick",
        0,
        2,
        2,
    )
    assert (error.error_type, error.message) == ("builtins.ValueError", "ValueError: boom")
    assert error.traceback is not None and 'raise ValueError("boom")' in error.traceback
    with pytest.raises(RunFailed) as failed:
        client.result(run_id, timeout=5)
    assert str(failed.value) == (
        f"run {run_id} failed at step quick (task 0, attempt 2 of 2): ValueError: boom"
    )
    assert failed.value.error == error

    text = pgflow(dsn, "status", run_id)
    assert text.returncode == 0, text.stderr
    lines = [line.rstrip() for line in text.stdout.splitlines()]
    assert lines[0].startswith(f"run {run_id}  flow e2e_fail  failed  ")
    steps = [[cell.strip() for cell in line.split("│")][:2] for line in lines[3:6]]
    assert steps == [["quick", "failed"], ["slow", "cancelled"], ["after", "cancelled"]]
    assert lines[6:] == [
        "task errors:",
        "  quick[0] failed, attempt 2: ValueError: boom",
        "  slow[0] cancelled, attempt 1: RuntimeError: slow broke after its run failed",
        f"(tracebacks: pgflow status {run_id} --tracebacks)",
    ]

    traced = pgflow(dsn, "status", run_id, "--tracebacks").stdout.splitlines()
    at = traced.index("  quick[0] failed, attempt 2: ValueError: boom")
    assert traced[at + 1] == "    Traceback (most recent call last):"
    assert '        raise ValueError("boom")' in traced
    assert "    RuntimeError: slow broke after its run failed" in traced
    assert not any(line.startswith("(tracebacks:") for line in traced)

    data = json.loads(pgflow(dsn, "status", run_id, "--json").stdout)
    assert data["error"]["step_slug"] == "quick"
    assert data["error"]["traceback"] == error.traceback
    assert [(e["step_slug"], e["status"], e["error_type"]) for e in data["task_errors"]] == [
        ("quick", "failed", "builtins.ValueError"),
        ("slow", "cancelled", "builtins.RuntimeError"),
    ]
    assert all("Traceback" in e["error_traceback"] for e in data["task_errors"])


def test_start_wait_json_carries_the_error_of_a_non_retryable_failure(
    start_worker: StartWorker, dsn: str
) -> None:
    start_worker(extra=("--flow", "e2e_errors"))
    result = pgflow(
        dsn, "start", "e2e_errors", "--input", '{"pick": "declined"}', "--wait", "--json"
    )
    assert result.returncode == 1, result.stderr
    run = json.loads(result.stdout)
    assert run["status"] == "failed"
    error = run["error"]
    traceback = error.pop("traceback")
    assert error == {
        "step_slug": "declined",
        "task_index": 0,
        "error_type": "e2e_steps.CardDeclined",
        "message": "CardDeclined: card declined",
        "attempt": 1,
        "max_attempts": 5,
    }
    assert "raise CardDeclined" in traceback
    assert StepError(**error, traceback=traceback).describe() == (
        "step declined (task 0, attempt 1 of 5): CardDeclined: card declined"
    )
