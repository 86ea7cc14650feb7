"""Finished runs as the CLI and the client show them, without a worker (the tasks are claimed
and failed in SQL): fixed end times and finished steps, the error of a failed run, the result
of a cancelled one, and a wait that no worker can end."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import psycopg
import pytest

from pgflow_yaml import NoWorker, RunCancelled, RunFailed, RunNotFinished, WaitTimeout
from pgflow_yaml.client import Client

from .conftest import wait_until
from .test_run_control import pgflow

WORKER = uuid.UUID("00000000-0000-0000-0000-00000000f00d")


@pytest.fixture
def etl(dsn: str) -> str:
    """Create flow etl: extract -> load, one attempt each."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select pgflow.create_flow('etl', max_attempts => 1)")
        conn.execute("select pgflow.add_step('etl', 'extract')")
        conn.execute("select pgflow.add_step('etl', 'load', array['extract'])")
    return "etl"


def fail_extract(dsn: str, message: str, error_type: str, traceback: str) -> None:
    """Claim extract's task as a worker would and fail it (fenced by its start)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "select run_id, start_seq, attempt from pgflow.claim_tasks(array['etl'], %s, 1)",
            (WORKER,),
        ).fetchone()
        assert row is not None
        conn.execute(
            "select pgflow.fail_task(%s, 'extract', 0, %s, attempt => %s, error_type => %s,"
            " error_traceback => %s, start_seq => %s)",
            (row[0], message, row[2], error_type, traceback, row[1]),
        )


def test_a_failed_run_tells_its_step_error_everywhere(client: Client, dsn: str, etl: str) -> None:
    run_id = client.start(etl, {})
    fail_extract(dsn, "KeyError: 'source'", "builtins.KeyError", "Traceback: at line 3")
    run = client.get(run_id)
    assert (run.status, [s.status for s in run.steps]) == ("failed", ["failed", "cancelled"])
    assert run.error is not None and run.error.describe() == (
        "step extract (task 0, attempt 1 of 1): KeyError: 'source'"
    )
    with pytest.raises(RunFailed, match="failed at step extract") as info:
        run.result()
    assert info.value.run == run and info.value.exit_code == 1

    shown = pgflow(dsn, "status", run_id)
    assert "  extract[0] failed, attempt 1: KeyError: 'source'" in shown.stdout.splitlines()
    assert "Traceback: at line 3" not in shown.stdout
    with_tracebacks = pgflow(dsn, "status", run_id, "--tracebacks")
    assert "    Traceback: at line 3" in with_tracebacks.stdout.splitlines()

    from typer.testing import CliRunner

    from pgflow_yaml.cli import app

    global_flag = CliRunner().invoke(app, ["--traceback", "status", run_id, "--dsn", dsn])
    assert "    Traceback: at line 3" in global_flag.stdout.splitlines()

    data = json.loads(pgflow(dsn, "status", run_id, "--json").stdout)
    assert data["error"] == {
        "step_slug": "extract",
        "task_index": 0,
        "error_type": "builtins.KeyError",
        "message": "KeyError: 'source'",
        "traceback": "Traceback: at line 3",
        "attempt": 1,
        "max_attempts": 1,
    }
    assert data["task_errors"] == [
        {
            "step_slug": "extract",
            "task_index": 0,
            "status": "failed",
            "attempt": 1,
            "error_type": "builtins.KeyError",
            "error_message": "KeyError: 'source'",
            "error_traceback": "Traceback: at line 3",
        }
    ]
    summary = {s["step_slug"]: (s["status"], s["error_type"]) for s in data["step_summary"]}
    assert summary == {"extract": ("failed", "builtins.KeyError"), "load": ("cancelled", None)}


def test_a_cancelled_run_has_finished_steps_an_end_time_and_no_result(
    client: Client, dsn: str, etl: str
) -> None:
    run_id = client.start(etl, {})
    with pytest.raises(RunNotFinished, match=f"run {run_id} is still started"):
        client.get(run_id).result()
    cancelled = client.cancel(run_id)
    assert [(s.step_slug, s.status) for s in cancelled.steps] == [
        ("extract", "cancelled"),
        ("load", "cancelled"),
    ]
    assert cancelled.cancelled_at is not None and cancelled.ended_at == cancelled.cancelled_at
    assert all(s.cancelled_at for s in cancelled.steps)
    with pytest.raises(RunCancelled, match=f"run {run_id} was cancelled"):
        client.result(run_id)

    status = json.loads(pgflow(dsn, "status", run_id, "--json").stdout)
    assert status["cancelled_at"] == cancelled.cancelled_at.isoformat()
    assert [s["status"] for s in status["steps"]] == ["cancelled", "cancelled"]
    (listed,) = json.loads(pgflow(dsn, "runs", "--json").stdout)
    assert listed["status"] == "cancelled" and listed["cancelled_at"] is not None
    (summary,) = client.runs()
    assert summary.cancelled_at is not None


def test_no_worker_ends_a_wait_with_its_own_error_and_exit_status(
    client: Client, dsn: str, etl: str
) -> None:
    run_id = client.start(etl, {})
    with pytest.raises(NoWorker) as info:
        client.wait(run_id, timeout=0.2)
    assert isinstance(info.value, WaitTimeout)
    assert str(info.value) == (
        f"run {run_id} is still started after 0.2s: no worker serves flow etl;"
        " start one with `pgflow run-worker PATH`"
    )
    assert client.live_workers(etl) == 0

    result = pgflow(dsn, "start", etl, "--wait", "--timeout", "0.2")
    assert result.returncode == 3
    started = client.runs()[0].run_id
    assert result.stdout == ""
    assert result.stderr == (
        f"error: run {started} is still started after 0.2s: no worker serves flow etl;"
        " start one with `pgflow run-worker PATH`\n"
    )


def test_a_live_worker_turns_it_into_a_plain_timeout(client: Client, dsn: str, etl: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select pgflow.register_worker(%s, 'etl', 'tests')", (WORKER,))
    assert client.live_workers(etl) == 1
    run_id = client.start(etl, {})
    with pytest.raises(WaitTimeout) as info:
        client.wait(run_id, timeout=0.2)
    assert type(info.value) is WaitTimeout
    result = pgflow(dsn, "start", etl, "--wait", "--timeout", "0.2")
    assert result.returncode == 1
    assert "no worker" not in result.stderr and "is still started after 0.2s" in result.stderr


def test_an_unbounded_wait_says_at_once_that_no_worker_serves_the_flow(
    client: Client, dsn: str, etl: str
) -> None:
    argv = [sys.executable, "-m", "pgflow_yaml", "start", etl, "--wait", "--dsn", dsn]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        runs: list[Any] = wait_until(client.runs, what="the run started by the command")
        client.cancel(runs[0].run_id)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert stdout == f"{runs[0].run_id} cancelled\n"
    assert stderr == (
        "note: no worker serves flow etl yet; start one with `pgflow run-worker PATH`\n"
    )


def test_the_async_client_tells_the_same(client: Client, dsn: str, etl: str) -> None:
    import asyncio

    from pgflow_yaml import AsyncClient

    async def main() -> tuple[BaseException, BaseException, Any, int | None]:
        async with AsyncClient(dsn) as aclient:
            waiting = await aclient.start(etl, {})
            with pytest.raises(NoWorker) as no_worker:
                await aclient.wait(waiting, timeout=0.2)
            await aclient.cancel(waiting)  # its task leaves the queue
            with pytest.raises(RunCancelled) as cancelled:
                await aclient.result(waiting)
            failing = await aclient.start(etl, {})
            fail_extract(dsn, "boom", "builtins.RuntimeError", "Traceback: x")
            with pytest.raises(RunFailed) as failed:
                await aclient.result(failing, timeout=5)
            return no_worker.value, failed.value, cancelled.value, await aclient.live_workers(etl)

    no_worker, failed, cancelled, live = asyncio.run(main())
    assert "no worker serves flow etl" in str(no_worker)
    assert str(failed).endswith("at step extract (task 0, attempt 1 of 1): RuntimeError: boom")
    assert isinstance(cancelled, RunCancelled) and live == 0
