"""maybe_complete_run completes only started runs with no remaining steps."""

from ..helpers import Conn, add_flow, claim, fail, run_row, start


def test_never_touches_a_failed_run(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}], max_attempts=1)
    run_id = start(conn, "f")
    (task,) = claim(conn, "f")
    fail(conn, task)
    conn.execute("update pgflow.runs set remaining_steps = 0 where run_id = %s", (run_id,))
    conn.execute("select pgflow.maybe_complete_run(%s)", (run_id,))
    run = run_row(conn, run_id)
    assert (run["status"], run["completed_at"], run["output"]) == ("failed", None, None)


def test_leaves_a_run_with_remaining_steps(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    run_id = start(conn, "f")
    conn.execute("select pgflow.maybe_complete_run(%s)", (run_id,))
    assert run_row(conn, run_id)["status"] == "started"
