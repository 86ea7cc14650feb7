"""Late, duplicate and stale complete_task calls change nothing."""

from ..helpers import (
    Conn,
    add_flow,
    claim,
    complete,
    make_visible,
    one,
    rows,
    run_row,
    start,
    step_state,
)


def test_duplicate_call_is_a_noop(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b", "deps": ["a"]}])
    run_id = start(conn, "f")
    (task,) = claim(conn, "f")
    complete(conn, task, "first")
    assert complete(conn, task, "second") == "completed"
    assert step_state(conn, run_id, "a")["output"] == "first"
    assert one(conn, "select count(*) from pgflow.step_tasks where step_slug = 'b'") == 1


def test_call_for_unknown_task_returns_nothing(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    run_id = start(conn, "f")
    assert rows(conn, "select * from pgflow.complete_task(%s, 'a', 5, '1'::jsonb)", (run_id,)) == []


def test_stale_attempt_is_fenced_out(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}], base_delay=0)
    run_id = start(conn, "f")
    (first,) = claim(conn, "f")
    conn.execute("select pgflow.fail_task(%s, 'a', 0, 'lost', attempt => 1)", (run_id,))
    make_visible(conn, "f")
    (second,) = claim(conn, "f")
    assert (first.attempt, second.attempt) == (1, 2)
    assert complete(conn, first, "stale") == "started"
    assert step_state(conn, run_id, "a")["status"] == "started"
    assert complete(conn, second, "fresh") == "completed"
    assert run_row(conn, run_id)["output"] == {"a": "fresh"}


def test_four_argument_call_still_works(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    run_id = start(conn, "f")
    (_task,) = claim(conn, "f")
    conn.execute("select pgflow.complete_task(%s, 'a', 0, '\"ok\"'::jsonb)", (run_id,))
    assert run_row(conn, run_id)["output"] == {"a": "ok"}
