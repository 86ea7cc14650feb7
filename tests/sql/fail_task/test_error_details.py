"""fail_task stores error_type and traceback; retryable => false exhausts at once."""

from ..helpers import Conn, add_flow, claim, fail, rows, run_row, start


def test_not_retryable_fails_on_first_attempt(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}], max_attempts=5)
    run_id = start(conn, "f")
    (task,) = claim(conn, "f")
    assert fail(conn, task, "bad input", retryable=False, error_type="ValueError") == "failed"
    assert run_row(conn, run_id)["status"] == "failed"


def test_stores_type_and_traceback(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    run_id = start(conn, "f")
    (_task,) = claim(conn, "f")
    conn.execute(
        "select pgflow.fail_task(%s, 'a', 0, 'oops', error_type => 'KeyError',"
        " error_traceback => 'Traceback ...')",
        (run_id,),
    )
    assert rows(
        conn, "select error_message, error_type, error_traceback from pgflow.step_tasks"
    ) == [{"error_message": "oops", "error_type": "KeyError", "error_traceback": "Traceback ..."}]


def test_four_argument_call_still_works(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}], max_attempts=1)
    run_id = start(conn, "f")
    claim(conn, "f")
    conn.execute("select pgflow.fail_task(%s, 'a', 0, 'gone')", (run_id,))
    assert run_row(conn, run_id)["status"] == "failed"


def test_stale_attempt_is_fenced_out(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}], max_attempts=1)
    run_id = start(conn, "f")
    claim(conn, "f")
    conn.execute("select pgflow.fail_task(%s, 'a', 0, 'old', attempt => 7)", (run_id,))
    assert rows(conn, "select status, error_message from pgflow.step_tasks") == [
        {"status": "started", "error_message": None}
    ]
