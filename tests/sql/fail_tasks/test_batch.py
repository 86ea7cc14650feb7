"""fail_tasks fails a batch of tasks in one transaction, with the optional fields."""

import json

import psycopg
import pytest

from ..helpers import Conn, add_flow, claim, rows, start, task_statuses


def test_fails_a_batch(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}], max_attempts=3)
    run_id = start(conn, "f", [1, 2])
    first, second = claim(conn, "f")
    batch = json.dumps(
        [
            {
                "run_id": str(run_id),
                "step_slug": "m",
                "task_index": 0,
                "attempt": first.attempt,
                "error_message": "try again",
            },
            {
                "run_id": str(run_id),
                "step_slug": "m",
                "task_index": 1,
                "attempt": second.attempt,
                "error_message": "broken",
                "error_type": "TypeError",
                "retryable": False,
                "error_traceback": "tb",
            },
        ]
    )
    result = rows(conn, "select status, error_type from pgflow.fail_tasks(%s::jsonb)", (batch,))
    assert result == [
        {"status": "queued", "error_type": None},
        {"status": "failed", "error_type": "TypeError"},
    ]
    assert task_statuses(conn, run_id) == {("m", 0): "cancelled", ("m", 1): "failed"}


def test_rejects_item_without_task_index(conn: Conn) -> None:
    batch = json.dumps([{"run_id": "00000000-0000-0000-0000-000000000000", "step_slug": "a"}])
    with pytest.raises(psycopg.errors.RaiseException) as err:
        conn.execute("select pgflow.fail_tasks(%s::jsonb)", (batch,))
    assert err.value.diag.message_primary == 'fail_tasks item 0 lacks "task_index"'
