"""requeue_stalled_tasks requeues stalled tasks while attempts remain (at most 3 times)."""

import uuid

import psycopg

from ..helpers import (
    WORKER_ID,
    Conn,
    add_flow,
    age_started_tasks,
    claim,
    complete,
    fail,
    make_visible,
    one,
    rows,
    run_row,
    start,
    step_state,
    step_statuses,
    task_statuses,
)


def stall(conn: Conn, run_id: uuid.UUID) -> None:
    """Let the run's started task stall (its worker lost) and check that the sweep handles it."""
    age_started_tasks(conn, run_id, 60)
    assert one(conn, "select pgflow.requeue_stalled_tasks()") == 1


def test_uses_the_step_timeout_not_the_flow_timeout(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "timeout": 5}], timeout=600)
    run_id = start(conn, "f")
    claim(conn, "f")
    age_started_tasks(conn, run_id, 8)
    assert one(conn, "select pgflow.requeue_stalled_tasks()") == 0
    age_started_tasks(conn, run_id, 4)
    assert one(conn, "select pgflow.requeue_stalled_tasks()") == 1
    (task,) = rows(conn, "select status, requeued_count, last_worker_id from pgflow.step_tasks")
    assert task == {"status": "queued", "requeued_count": 1, "last_worker_id": None}
    (again,) = claim(conn, "f")
    assert again.attempt == 2


def test_old_worker_is_fenced_out_after_requeue(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "timeout": 5}])
    run_id = start(conn, "f")
    (old,) = claim(conn, "f")
    age_started_tasks(conn, run_id, 60)
    conn.execute("select pgflow.requeue_stalled_tasks()")
    (new,) = claim(conn, "f")
    assert complete(conn, old, "old") == "started"
    assert complete(conn, new, "new") == "completed"
    assert run_row(conn, run_id)["output"] == {"a": "new"}


def test_fourth_stall_fails_the_step_and_run(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "timeout": 5}, {"slug": "b"}], max_attempts=10)
    run_id = start(conn, "f")
    for _ in range(4):
        claim(conn, "f", qty=1)
        stall(conn, run_id)
    a = step_state(conn, run_id, "a")
    assert a["status"] == "failed"
    assert a["error_message"] == "[STALLED] Task stalled 4 times (worker lost or over its timeout)"
    assert run_row(conn, run_id)["status"] == "failed"
    assert task_statuses(conn, run_id) == {("a", 0): "failed", ("b", 0): "cancelled"}
    (task,) = rows(
        conn,
        "select error_type, permanently_stalled_at from pgflow.step_tasks where step_slug = 'a'",
    )
    assert task["error_type"] == "stalled" and task["permanently_stalled_at"] is not None


def test_notifies_when_requeued(conn: Conn, dsn: str) -> None:
    add_flow(conn, "f", [{"slug": "a", "timeout": 5}])
    run_id = start(conn, "f")
    claim(conn, "f")
    age_started_tasks(conn, run_id, 60)
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("listen pgflow_tasks")
        conn.execute("select pgflow.requeue_stalled_tasks()")
        got = [(n.channel, n.payload) for n in listener.notifies(timeout=0.5, stop_after=1)]
    assert got == [("pgflow_tasks", "f")]


def test_each_stall_uses_up_an_attempt(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "timeout": 5}, {"slug": "b", "deps": ["a"]}], max_attempts=2)
    run_id = start(conn, "f")
    claim(conn, "f")
    stall(conn, run_id)
    assert task_statuses(conn, run_id) == {("a", 0): "queued"}
    (second,) = claim(conn, "f")
    assert second.attempt == 2
    stall(conn, run_id)
    a = step_state(conn, run_id, "a")
    assert a["status"] == "failed"
    assert a["error_message"] == "[STALLED] worker lost 2 times; max_attempts 2 exhausted"
    assert run_row(conn, run_id)["status"] == "failed"
    assert step_statuses(conn, run_id) == {"a": "failed", "b": "cancelled"}
    (task,) = rows(
        conn,
        "select attempts_count, error_type, permanently_stalled_at is not null as stalled"
        " from pgflow.step_tasks where step_slug = 'a'",
    )
    assert task == {"attempts_count": 2, "error_type": "stalled", "stalled": True}


def test_a_handler_failure_and_a_stall_exhaust_two_attempts(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "timeout": 5}], max_attempts=2)
    run_id = start(conn, "f")
    (first,) = claim(conn, "f")
    assert fail(conn, first, "boom") == "queued"
    make_visible(conn, "f")
    claim(conn, "f")
    stall(conn, run_id)
    assert step_state(conn, run_id, "a")["error_message"] == (
        "[STALLED] worker lost 1 time; max_attempts 2 exhausted"
    )
    assert run_row(conn, run_id)["status"] == "failed"


def test_a_released_start_does_not_count_against_the_stalls(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "timeout": 5}], max_attempts=1)
    run_id = start(conn, "f")
    claim(conn, "f")
    conn.execute("select pgflow.release_tasks(%s)", (WORKER_ID,))
    (task,) = claim(conn, "f")
    assert task.attempt == 2
    stall(conn, run_id)
    assert step_state(conn, run_id, "a")["error_message"] == (
        "[STALLED] worker lost 1 time; max_attempts 1 exhausted"
    )


def test_exhausted_stall_skips_a_step_that_may_be_skipped(conn: Conn) -> None:
    add_flow(
        conn,
        "f",
        [
            {"slug": "a", "timeout": 5, "max_attempts": 1, "when_exhausted": "skip"},
            {"slug": "b", "deps": ["a"]},
        ],
    )
    run_id = start(conn, "f")
    claim(conn, "f")
    stall(conn, run_id)
    assert step_statuses(conn, run_id) == {"a": "skipped", "b": "started"}
    assert run_row(conn, run_id)["status"] == "started"
