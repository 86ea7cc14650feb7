"""What a task carries or a crash leaves behind never corrupts a run nor stops a worker.

- a handler still running from before a cancel reports after the run was retried: fenced out;
- an input nested deeper than the worker can decode fails its task alone, without retry;
- a handler that kills its worker uses up an attempt each time and the run fails at
  max_attempts.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgflow_yaml import AsyncClient
from pgflow_yaml.client import Client
from pgflow_yaml.worker.errors import InvalidInput
from pgflow_yaml.worker.runner import MAX_INPUT_DEPTH

from .conftest import StartWorker, executions, wait_until


def nested(depth: int) -> Any:
    """Return a list nested ``depth`` levels deep."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def task_row(dsn: str, run_id: str, step_slug: str) -> dict[str, Any]:
    with psycopg.connect(dsn) as conn:
        cur = conn.execute(
            "select status, attempts_count, error_type, error_message from pgflow.step_tasks"
            " where run_id = %s and step_slug = %s",
            (run_id, step_slug),
        )
        names = [c.name for c in cur.description or ()]
        row = cur.fetchone()
    assert row is not None
    return dict(zip(names, row, strict=True))


def run_status(dsn: str, run_id: str) -> str:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("select status from pgflow.runs where run_id = %s", (run_id,)).fetchone()
    assert row is not None
    return str(row[0])


def started_execution(record_file: Path, run_id: str, count: int) -> bool:
    return len([e for e in executions(record_file) if e[0] == run_id]) >= count


# -- a result from before a cancel ---------------------------------------------------------


def test_a_result_from_before_a_cancel_loses_to_the_retried_execution(
    start_worker: StartWorker, client: Client, record_file: Path, tmp_path: Path
) -> None:
    worker = start_worker(extra=("--flow", "e2e_fence", "--concurrency", "2"))
    run_id = client.start("e2e_fence", {"dir": str(tmp_path)})
    wait_until(lambda: started_execution(record_file, run_id, 1), what="the first execution")
    client.cancel(run_id)
    assert client.retry(run_id).status == "started"
    wait_until(lambda: started_execution(record_file, run_id, 2), what="the retried execution")
    (tmp_path / "release-first").touch()  # the execution from before the cancel reports now
    worker.wait_for("task_completed", run_id=run_id)
    (tmp_path / "release-second").touch()
    run = client.wait(run_id, 30)
    assert (run.status, run.output) == ("completed", {"probe": "fresh"})
    assert [e[3] for e in executions(record_file)] == [1, 1]  # both were attempt 1


def test_a_result_from_before_a_cancel_on_another_worker_is_fenced_out(
    start_worker: StartWorker, client: Client, record_file: Path, tmp_path: Path, dsn: str
) -> None:
    first = start_worker(extra=("--flow", "e2e_fence", "--concurrency", "1"))
    run_id = client.start("e2e_fence", {"dir": str(tmp_path)})
    wait_until(lambda: started_execution(record_file, run_id, 1), what="the first execution")
    client.cancel(run_id)
    client.retry(run_id)
    second = start_worker(extra=("--flow", "e2e_fence", "--concurrency", "1"))
    wait_until(lambda: started_execution(record_file, run_id, 2), what="the retried execution")
    (tmp_path / "release-first").touch()
    first.wait_for("task_completed", run_id=run_id)
    first.signal(signal.SIGTERM)  # a graceful stop sends every result before exiting
    assert first.wait(30) == 0
    assert task_row(dsn, run_id, "probe")["status"] == "started"  # the stale result was ignored
    (tmp_path / "release-second").touch()
    run = client.wait(run_id, 30)
    assert (run.status, run.output) == ("completed", {"probe": "fresh"})
    workers = {e[4] for e in executions(record_file)}
    assert len(workers) == 2
    assert second.proc.poll() is None


# -- a poison pill -------------------------------------------------------------------------


def test_an_input_too_deep_to_decode_fails_its_task_alone(
    start_worker: StartWorker, client: Client, dsn: str
) -> None:
    installer = start_worker(extra=("--flow", "e2e_chain"))  # installs the flow, then leaves
    installer.signal(signal.SIGTERM)
    assert installer.wait(30) == 0
    deep = "[" * 2000 + "]" * 2000
    with psycopg.connect(dsn, autocommit=True) as conn:  # the client refuses it; SQL does not
        (poisoned,) = conn.execute(
            "select run_id::text from pgflow.start_flow('e2e_chain', %s::jsonb)", (deep,)
        ).fetchone() or ("",)
    healthy = client.start_many("e2e_chain", [{"i": i} for i in range(3)])
    worker = start_worker(extra=("--flow", "e2e_chain"))  # claims all four in one batch
    # (the client cannot read this run back either: its input is too deep for Python's json)
    wait_until(lambda: run_status(dsn, poisoned) == "failed", what="the poisoned run to fail")
    message = f"task input could not be decoded: nested deeper than {MAX_INPUT_DEPTH} levels"
    assert task_row(dsn, poisoned, "a") == {
        "status": "failed",
        "attempts_count": 1,
        "error_type": "InputNotDecodable",
        "error_message": message,
    }
    assert worker.wait_for("task_input_rejected", run_id=poisoned)["error"] == message
    for run_id in healthy:
        assert client.wait(run_id, 30).status == "completed"
    later = client.start("e2e_chain", {"after": "the poison"})
    assert client.wait(later, 30).status == "completed"
    assert worker.proc.poll() is None


def test_the_client_refuses_an_input_nested_deeper_than_the_limit(client: Client) -> None:
    too_deep = nested(MAX_INPUT_DEPTH + 1)
    with pytest.raises(InvalidInput, match=r"^input is nested deeper than 512 levels$"):
        client.start("e2e_chain", too_deep)
    with pytest.raises(InvalidInput, match=r"^inputs\[1\] is nested deeper than 512 levels$"):
        client.start_many("e2e_chain", [{}, nested(2000)])
    assert client.runs() == []


def test_the_async_client_refuses_an_input_nested_deeper_than_the_limit(dsn: str) -> None:
    async def scenario() -> None:
        async with AsyncClient(dsn) as client:
            with pytest.raises(InvalidInput, match=r"^input is nested deeper than 512 levels$"):
                await client.start("e2e_chain", nested(2000))
            with pytest.raises(InvalidInput, match=r"^inputs\[0\] is nested deeper than"):
                await client.start_many("e2e_chain", [nested(2000)])

    asyncio.run(scenario())


def test_an_input_at_the_limit_runs(start_worker: StartWorker, client: Client) -> None:
    start_worker(extra=("--flow", "e2e_chain"))
    run_id = client.start("e2e_chain", nested(MAX_INPUT_DEPTH))
    run = client.wait(run_id, 30)
    assert run.status == "completed"


# -- a handler that kills its worker -------------------------------------------------------


def test_a_task_that_kills_its_worker_runs_max_attempts_times_then_fails_the_run(
    start_worker: StartWorker, client: Client, record_file: Path, dsn: str
) -> None:
    workers = [start_worker(extra=("--flow", "e2e_kill"))]
    run_id = client.start("e2e_kill", {})

    def supervise() -> bool:
        """Restart the worker whenever it died, as a process supervisor would."""
        if client.get(run_id).finished:
            return True
        if workers[-1].proc.poll() is not None:
            workers.append(start_worker(extra=("--flow", "e2e_kill"), wait=False))
        return False

    wait_until(supervise, timeout=90, what="the run to end")
    run = client.get(run_id)
    assert run.status == "failed"
    assert {s.step_slug: s.error_message for s in run.steps} == {
        "fatal": "[STALLED] worker lost 2 times; max_attempts 2 exhausted"
    }
    assert [e[3] for e in executions(record_file)] == [1, 2]
    assert task_row(dsn, run_id, "fatal")["attempts_count"] == 2
