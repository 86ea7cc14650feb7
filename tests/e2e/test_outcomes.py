"""What happens to a task: retries, exhaustion, non-retryable errors, bad outputs, timeouts."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from pgflow_yaml.client import Client

from .conftest import StartWorker


def task_rows(dsn: str, run_id: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(
            "select step_slug, status, attempts_count, error_message, error_type,"
            " error_traceback, output from pgflow.step_tasks where run_id = %s",
            (run_id,),
        )
        return {row["step_slug"]: row for row in cur.fetchall()}


def test_a_failing_task_is_retried_until_it_succeeds_then_a_dependent_exhausts(
    start_worker: StartWorker, client: Client, dsn: str
) -> None:
    start_worker(extra=("--flow", "e2e_retry"))
    run = client.wait(client.start("e2e_retry", {"succeed_on": 2}), 60)
    assert run.status == "failed"
    tasks = task_rows(dsn, run.run_id)
    assert tasks["flaky"]["status"] == "completed"
    assert tasks["flaky"]["attempts_count"] == 2
    assert tasks["flaky"]["output"] == {"attempt": 2}
    exhausted = tasks["exhausted"]
    assert exhausted["status"] == "failed"
    assert exhausted["attempts_count"] == 2
    assert exhausted["error_message"] == "ValueError: boom"
    assert exhausted["error_type"] == "builtins.ValueError"
    assert 'raise ValueError("boom")' in exhausted["error_traceback"]


def test_a_non_retryable_error_exhausts_at_once(
    start_worker: StartWorker, client: Client, dsn: str
) -> None:
    start_worker(extra=("--flow", "e2e_errors"))
    run = client.wait(client.start("e2e_errors", {"pick": "declined"}), 30)
    assert run.status == "failed"
    declined = task_rows(dsn, run.run_id)["declined"]
    assert declined["attempts_count"] == 1
    assert declined["error_message"] == "CardDeclined: card declined"
    assert declined["error_type"] == "e2e_steps.CardDeclined"


def test_a_non_json_output_fails_the_task_naming_the_type_and_step(
    start_worker: StartWorker, client: Client, dsn: str
) -> None:
    start_worker(extra=("--flow", "e2e_errors"))
    run = client.wait(client.start("e2e_errors", {"pick": "not_json"}), 30)
    assert run.status == "failed"
    task = task_rows(dsn, run.run_id)["not_json"]
    assert task["error_type"] == "OutputNotJson"
    assert "step 'not_json'" in task["error_message"]
    assert "of type set" in task["error_message"]


@pytest.mark.parametrize(
    ("pick", "step", "message"),
    [
        (
            "datetime",
            "when",
            "step 'when' returned a value that is not JSON: output['at'] is of type datetime,"
            " which is not JSON (use a string: value.isoformat())",
        ),
        (
            "set",
            "tags",
            "step 'tags' returned a value that is not JSON: output is of type set, which is not"
            " JSON (use a list: sorted(value) or list(value))",
        ),
    ],
)
def test_a_datetime_or_a_set_output_fails_its_task_after_one_attempt(
    start_worker: StartWorker, client: Client, dsn: str, pick: str, step: str, message: str
) -> None:
    worker = start_worker(extra=("--flow", "e2e_not_json"))
    run = client.wait(client.start("e2e_not_json", {"pick": pick}), 30)
    assert run.status == "failed"
    task = task_rows(dsn, run.run_id)[step]
    assert (task["status"], task["attempts_count"], task["error_type"]) == (
        "failed",
        1,  # of max_attempts 3: the same value would come back on every attempt
        "OutputNotJson",
    )
    assert task["error_message"] == message
    (failed,) = worker.events("task_failed")
    assert (failed["step_slug"], failed["retryable"], failed["error"]) == (step, False, message)


def test_falsy_outputs_are_stored_faithfully(
    start_worker: StartWorker, client: Client, dsn: str
) -> None:
    start_worker(extra=("--flow", "e2e_errors"))
    values: list[Any] = [0, False, "", None, [], {}, 0.0]
    run_ids = [client.start("e2e_errors", {"pick": "falsy", "value": v}) for v in values]
    for run_id, value in zip(run_ids, values, strict=True):
        run = client.wait(run_id, 30)
        assert run.status == "completed"
        assert run.output == {"falsy": value}
        stored = task_rows(dsn, run_id)["falsy"]["output"]
        assert stored == value and type(stored) is type(value)


def test_a_handler_past_its_timeout_is_abandoned_retried_and_its_late_result_fenced(
    start_worker: StartWorker, client: Client, dsn: str
) -> None:
    worker = start_worker(extra=("--flow", "e2e_timeout"))
    run = client.wait(client.start("e2e_timeout", {"sleep": 6}), 60)
    assert run.status == "completed"
    assert run.output == {"sync_step": "on time", "async_step": "on time"}
    tasks = task_rows(dsn, run.run_id)
    for step in ("sync_step", "async_step"):
        assert tasks[step]["attempts_count"] == 2
        assert tasks[step]["output"] == "on time"
    timeouts = {e["step_slug"]: e for e in worker.events("task_timed_out")}
    assert set(timeouts) == {"sync_step", "async_step"}
    assert "abandoned" in timeouts["sync_step"]["error"]
    assert "cancelled" in timeouts["async_step"]["error"]
