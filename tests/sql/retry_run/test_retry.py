"""retry_run restarts failed and cancelled steps and what follows them; outputs are kept."""

import psycopg
import pytest

from ..helpers import (
    Conn,
    add_flow,
    claim,
    complete,
    fail,
    rows,
    run_row,
    start,
    step_statuses,
)


def test_retries_failed_step_keeping_completed_outputs(conn: Conn) -> None:
    add_flow(
        conn,
        "f",
        [{"slug": "a"}, {"slug": "b", "deps": ["a"]}, {"slug": "c", "deps": ["b"]}],
        max_attempts=1,
    )
    run_id = start(conn, "f", {"x": 1})
    (a,) = claim(conn, "f")
    complete(conn, a, "A")
    (b,) = claim(conn, "f")
    fail(conn, b)
    assert run_row(conn, run_id)["status"] == "failed"

    (row,) = rows(conn, "select status, remaining_steps from pgflow.retry_run(%s)", (run_id,))
    assert row == {"status": "started", "remaining_steps": 2}
    assert step_statuses(conn, run_id) == {"a": "completed", "b": "started", "c": "created"}
    (b,) = claim(conn, "f")
    assert (b.step_slug, b.attempt, b.input) == ("b", 1, {"run": {"x": 1}, "a": "A"})
    complete(conn, b, "B")
    (c,) = claim(conn, "f")
    complete(conn, c, "C")
    run = run_row(conn, run_id)
    assert (run["status"], run["output"], run["failed_at"]) == ("completed", {"c": "C"}, None)


def test_retries_a_cancelled_map(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "m", "deps": ["a"], "step_type": "map"}])
    run_id = start(conn, "f")
    (a,) = claim(conn, "f")
    complete(conn, a, [1, 2])
    first, _ = claim(conn, "f")
    complete(conn, first, 10)
    conn.execute("select pgflow.cancel_run(%s)", (run_id,))
    conn.execute("select pgflow.retry_run(%s)", (run_id,))
    tasks = claim(conn, "f")
    assert [(t.task_index, t.input) for t in tasks] == [(0, 1), (1, 2)]
    for task in tasks:
        complete(conn, task, task.input * 10)
    assert run_row(conn, run_id)["output"] == {"m": [10, 20]}


def test_rejects_a_run_that_did_not_fail(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    run_id = start(conn, "f")
    with pytest.raises(psycopg.errors.RaiseException) as err:
        conn.execute("select pgflow.retry_run(%s)", (run_id,))
    assert err.value.diag.message_primary == (
        f'Run "{run_id}" is started (only failed or cancelled runs can be retried)'
    )


def test_cancelled_steps_start_again_without_their_cancel_time(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b", "deps": ["a"]}])
    run_id = start(conn, "f")
    conn.execute("select pgflow.cancel_run(%s)", (run_id,))
    assert step_statuses(conn, run_id) == {"a": "cancelled", "b": "cancelled"}
    conn.execute("select pgflow.retry_run(%s)", (run_id,))
    assert step_statuses(conn, run_id) == {"a": "started", "b": "created"}
    assert rows(
        conn, "select cancelled_at from pgflow.step_states where run_id = %s", (run_id,)
    ) == [{"cancelled_at": None}, {"cancelled_at": None}]
