"""complete_task counts dependencies down, starts the next step and completes the run."""

from ..helpers import Conn, add_flow, claim, complete, rows, run_row, start, step_state


def test_chain_runs_to_completion(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b", "deps": ["a"]}, {"slug": "c", "deps": ["b"]}])
    run_id = start(conn, "f", {"n": 1})
    for step, output in [("a", 1), ("b", 2), ("c", 3)]:
        (task,) = claim(conn, "f")
        assert task.step_slug == step
        assert complete(conn, task, output) == "completed"
    run = run_row(conn, run_id)
    assert (run["status"], run["output"], run["remaining_steps"]) == ("completed", {"c": 3}, 0)
    assert run["completed_at"] is not None


def test_step_output_is_stored_on_the_step_state(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b", "deps": ["a"]}])
    run_id = start(conn, "f")
    (task,) = claim(conn, "f")
    complete(conn, task, {"k": [1, 2]})
    a = step_state(conn, run_id, "a")
    assert (a["status"], a["output"], a["remaining_tasks"]) == ("completed", {"k": [1, 2]}, 0)
    assert step_state(conn, run_id, "b")["status"] == "started"


def test_run_output_holds_every_completed_leaf(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b", "deps": ["a"]}, {"slug": "c", "deps": ["a"]}])
    run_id = start(conn, "f")
    (a,) = claim(conn, "f")
    complete(conn, a, "x")
    for task in claim(conn, "f"):
        complete(conn, task, task.step_slug.upper())
    assert run_row(conn, run_id)["output"] == {"b": "B", "c": "C"}


def test_message_is_archived(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    start(conn, "f")
    (task,) = claim(conn, "f")
    complete(conn, task, 1)
    assert rows(conn, "select msg_id from pgmq.a_f") == [{"msg_id": task.msg_id}]
    assert rows(conn, "select msg_id from pgmq.q_f") == []
