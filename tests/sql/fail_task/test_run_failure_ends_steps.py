"""A failed run shows only finished steps: the failed one, and its open siblings cancelled;
the failure of a sibling's start that the run's end cancelled is kept on its task."""

import json

from ..helpers import Conn, Task, add_flow, claim, fail, rows, start, step_state, step_statuses


def fail_by_start(conn: Conn, task: Task, message: str, **fence: object) -> str | None:
    """Fail ``task`` as our worker does (fenced by start_seq unless told otherwise)."""
    args = {"attempt": task.attempt, "start_seq": task.start_seq, **fence}
    row = conn.execute(
        "select status from pgflow.fail_task(%s, %s, %s, %s, attempt => %s,"
        " error_type => 'ValueError', error_traceback => 'Traceback: ...',"
        " start_seq => %s)",
        (task.run_id, task.step_slug, task.task_index, message, args["attempt"], args["start_seq"]),
    ).fetchone()
    return None if row is None else str(row[0])


def task_error(conn: Conn, task: Task) -> dict[str, object]:
    (row,) = rows(
        conn,
        "select status, error_message, error_type, error_traceback from pgflow.step_tasks"
        " where run_id = %s and step_slug = %s and task_index = %s",
        (task.run_id, task.step_slug, task.task_index),
    )
    return row


def test_open_siblings_and_descendants_end_cancelled(conn: Conn) -> None:
    add_flow(
        conn,
        "f",
        [{"slug": "a"}, {"slug": "b"}, {"slug": "c", "deps": ["a", "b"]}],
        max_attempts=1,
    )
    run_id = start(conn, "f")
    a, _ = claim(conn, "f")
    assert fail(conn, a, "a broke") == "failed"
    assert step_statuses(conn, run_id) == {"a": "failed", "b": "cancelled", "c": "cancelled"}
    failed = step_state(conn, run_id, "a")
    assert (failed["error_message"], failed["cancelled_at"]) == ("a broke", None)
    for slug in ("b", "c"):
        state = step_state(conn, run_id, slug)
        assert state["cancelled_at"] is not None and state["error_message"] is None


def test_the_late_failure_of_a_cancelled_sibling_is_kept_on_its_task(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b"}], max_attempts=1)
    run_id = start(conn, "f")
    a, b = claim(conn, "f")
    assert fail_by_start(conn, a, "a broke") == "failed"
    assert fail_by_start(conn, b, "b broke too") == "cancelled"
    assert task_error(conn, b) == {
        "status": "cancelled",
        "error_message": "b broke too",
        "error_type": "ValueError",
        "error_traceback": "Traceback: ...",
    }
    assert step_statuses(conn, run_id) == {"a": "failed", "b": "cancelled"}
    assert step_state(conn, run_id, "a")["error_message"] == "a broke"  # the run's own error


def test_a_late_failure_without_its_start_seq_changes_nothing(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b"}], max_attempts=1)
    start(conn, "f")
    a, b = claim(conn, "f")
    fail_by_start(conn, a, "a broke")
    assert fail_by_start(conn, b, "unfenced", start_seq=None) == "cancelled"
    assert fail_by_start(conn, b, "another start", start_seq=b.start_seq + 1000) == "cancelled"
    assert fail_by_start(conn, b, "another attempt", attempt=b.attempt + 1) == "cancelled"
    assert task_error(conn, b)["error_message"] is None


def test_fail_tasks_keeps_a_late_failure_too(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b"}], max_attempts=1)
    start(conn, "f")
    a, b = claim(conn, "f")
    fail_by_start(conn, a, "a broke")
    item = {
        "run_id": str(b.run_id),
        "step_slug": "b",
        "task_index": 0,
        "attempt": b.attempt,
        "start_seq": b.start_seq,
        "error_message": "b broke too",
        "error_type": "KeyError",
    }
    (row,) = rows(conn, "select status from pgflow.fail_tasks(%s::jsonb)", (json.dumps([item]),))
    assert row["status"] == "cancelled"
    assert task_error(conn, b)["error_type"] == "KeyError"
