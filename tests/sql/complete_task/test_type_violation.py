"""A single step feeding a map that returns a non-array fails the run with [TYPE_VIOLATION]."""

from ..helpers import Conn, add_flow, claim, complete, rows, run_row, start, step_state


def test_non_array_for_map_child_fails_run(conn: Conn) -> None:
    add_flow(
        conn,
        "f",
        [{"slug": "a"}, {"slug": "other"}, {"slug": "m", "deps": ["a"], "step_type": "map"}],
    )
    run_id = start(conn, "f")
    tasks = {t.step_slug: t for t in claim(conn, "f")}
    assert complete(conn, tasks["a"], {"not": "array"}) == "failed"
    assert run_row(conn, run_id)["status"] == "failed"
    (task,) = rows(conn, "select * from pgflow.step_tasks where step_slug = 'a'")
    assert task["error_message"] == "[TYPE_VIOLATION] Produced object instead of array"
    assert step_state(conn, run_id, "a")["error_message"] == (
        "[TYPE_VIOLATION] Map step m expects array input but dependency a produced object"
    )
    assert rows(conn, "select status from pgflow.step_tasks where step_slug = 'other'") == [
        {"status": "cancelled"}
    ]
    assert rows(conn, "select * from pgmq.q_f") == []
