"""A report from a start before a cancel is fenced out of the retried run by its start_seq.

retry_run re-creates the tasks of the steps it resets, so their attempts start again at 1:
only start_seq (a number no other start ever gets) tells the old execution from the new one.
"""

import json
import uuid

from ..helpers import Conn, Task, add_flow, claim, dump, rows, run_row, start, step_state

OTHER_WORKER = uuid.UUID("00000000-0000-0000-0000-0000000000bb")


def complete_by_start(conn: Conn, task: Task, output: object) -> str | None:
    """Complete ``task`` with complete_task fenced by its start_seq; return the task status."""
    row = conn.execute(
        "select status from pgflow.complete_task(%s, %s, %s, %s::jsonb, start_seq => %s)",
        (task.run_id, task.step_slug, task.task_index, dump(output), task.start_seq),
    ).fetchone()
    return None if row is None else str(row[0])


def batch_item(task: Task, **fields: object) -> dict[str, object]:
    """Return a complete_tasks / fail_tasks item for ``task``, as the worker sends it."""
    return {
        "run_id": str(task.run_id),
        "step_slug": task.step_slug,
        "task_index": task.task_index,
        "attempt": task.attempt,
        "start_seq": task.start_seq,
        **fields,
    }


def cancel_and_retry(conn: Conn, run_id: uuid.UUID) -> None:
    conn.execute("select pgflow.cancel_run(%s)", (run_id,))
    conn.execute("select pgflow.retry_run(%s)", (run_id,))


def test_retried_start_repeats_the_attempt_but_not_the_start_seq(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    run_id = start(conn, "f")
    (old,) = claim(conn, "f")
    cancel_and_retry(conn, run_id)
    (new,) = claim(conn, "f")
    assert (old.attempt, new.attempt) == (1, 1)
    assert new.start_seq > old.start_seq


def test_stale_complete_task_is_ignored_and_the_retried_result_wins(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b", "deps": ["a"]}])
    run_id = start(conn, "f")
    (old,) = claim(conn, "f")
    cancel_and_retry(conn, run_id)
    (new,) = claim(conn, "f")
    assert complete_by_start(conn, old, "before the cancel") == "started"
    assert step_state(conn, run_id, "a")["status"] == "started"
    assert complete_by_start(conn, new, "retried") == "completed"
    (b,) = claim(conn, "f")
    assert b.input == {"run": {}, "a": "retried"}
    assert complete_by_start(conn, b, "done") == "completed"
    assert run_row(conn, run_id)["status"] == "completed"
    assert run_row(conn, run_id)["output"] == {"b": "done"}


def test_stale_batch_reports_of_another_worker_are_ignored(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}], max_attempts=3)
    run_id = start(conn, "f", [10, 20])
    old = claim(conn, "f")  # worker aa, before the cancel
    cancel_and_retry(conn, run_id)
    new = claim(conn, "f", worker_id=OTHER_WORKER)
    assert [t.attempt for t in new] == [t.attempt for t in old] == [1, 1]
    stale_failure = [batch_item(old[1], error_message="stale", retryable=False)]
    conn.execute("select pgflow.fail_tasks(%s::jsonb)", (json.dumps(stale_failure),))
    stale = [batch_item(t, output=f"old {t.input}") for t in old]
    query = "select status from pgflow.complete_tasks(%s::jsonb)"
    reported = rows(conn, query, (json.dumps(stale),))
    assert reported == [{"status": "started"}, {"status": "started"}]
    fresh = [batch_item(t, output=f"new {t.input}") for t in new]
    conn.execute("select pgflow.complete_tasks(%s::jsonb)", (json.dumps(fresh),))
    run = run_row(conn, run_id)
    assert (run["status"], run["output"]) == ("completed", {"m": ["new 10", "new 20"]})
    assert rows(conn, "select error_message from pgflow.step_tasks order by task_index") == [
        {"error_message": None},
        {"error_message": None},
    ]


def test_stale_fail_task_is_ignored_after_retry(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}], max_attempts=1)
    run_id = start(conn, "f")
    (old,) = claim(conn, "f")
    cancel_and_retry(conn, run_id)
    (new,) = claim(conn, "f")
    row = conn.execute(
        "select status from pgflow.fail_task(%s, %s, %s, 'stale', start_seq => %s)",
        (old.run_id, old.step_slug, old.task_index, old.start_seq),
    ).fetchone()
    assert row == ("started",)
    assert run_row(conn, run_id)["status"] == "started"
    assert complete_by_start(conn, new, "retried") == "completed"
    assert run_row(conn, run_id)["output"] == {"a": "retried"}
