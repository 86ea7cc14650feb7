"""A failed task with attempts left is queued again after floor(base_delay * 2^attempts) s."""

from ..helpers import (
    Conn,
    add_flow,
    claim,
    fail,
    make_visible,
    one,
    rows,
    run_row,
    start,
    step_state,
)


def test_requeues_with_exponential_backoff(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}], base_delay=5, max_attempts=3)
    run_id = start(conn, "f")
    (task,) = claim(conn, "f")
    assert fail(conn, task, "flaky") == "queued"
    delay = one(conn, "select extract(epoch from vt - clock_timestamp()) from pgmq.q_f")
    assert 9 < delay <= 10
    (row,) = rows(
        conn, "select status, attempts_count, error_message, started_at from pgflow.step_tasks"
    )
    assert row == {
        "status": "queued",
        "attempts_count": 1,
        "error_message": "flaky",
        "started_at": None,
    }
    assert step_state(conn, run_id, "a")["status"] == "started"
    assert run_row(conn, run_id)["status"] == "started"


def test_second_retry_waits_twice_as_long(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}], base_delay=5, max_attempts=3)
    start(conn, "f")
    (task,) = claim(conn, "f")
    fail(conn, task)
    make_visible(conn, "f")
    (task,) = claim(conn, "f")
    assert task.attempt == 2
    assert fail(conn, task) == "queued"
    delay = one(conn, "select extract(epoch from vt - clock_timestamp()) from pgmq.q_f")
    assert 19 < delay <= 20


def test_step_options_override_flow_options(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "max_attempts": 1}], max_attempts=5)
    run_id = start(conn, "f")
    (task,) = claim(conn, "f")
    assert fail(conn, task) == "failed"
    assert run_row(conn, run_id)["status"] == "failed"
