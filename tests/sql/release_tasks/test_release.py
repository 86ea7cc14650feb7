"""release_tasks hands a stopping worker's started tasks back without consuming an attempt."""

import uuid

from ..helpers import Conn, add_flow, claim, complete, fail, one, rows, run_row, start, step_state


def test_releases_only_that_workers_tasks(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}])
    start(conn, "f", [1, 2, 3])
    leaving, staying = uuid.uuid4(), uuid.uuid4()
    claim(conn, "f", qty=2, worker_id=leaving)
    claim(conn, "f", qty=1, worker_id=staying)
    assert one(conn, "select pgflow.release_tasks(%s)", (leaving,)) == 2
    assert rows(
        conn,
        "select task_index, status, attempts_count, released_count, last_worker_id"
        " from pgflow.step_tasks order by 1",
    ) == [
        {
            "task_index": 0,
            "status": "queued",
            "attempts_count": 1,
            "released_count": 1,
            "last_worker_id": None,
        },
        {
            "task_index": 1,
            "status": "queued",
            "attempts_count": 1,
            "released_count": 1,
            "last_worker_id": None,
        },
        {
            "task_index": 2,
            "status": "started",
            "attempts_count": 1,
            "released_count": 0,
            "last_worker_id": staying,
        },
    ]
    again = claim(conn, "f", worker_id=staying)
    assert [(t.task_index, t.attempt) for t in again] == [(0, 2), (1, 2)]


def test_late_report_of_a_released_start_is_fenced_out(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    run_id = start(conn, "f")
    leaving, taking_over = uuid.uuid4(), uuid.uuid4()
    (released,) = claim(conn, "f", worker_id=leaving)
    conn.execute("select pgflow.release_tasks(%s)", (leaving,))
    (current,) = claim(conn, "f", worker_id=taking_over)
    assert current.attempt == released.attempt + 1
    assert current.start_seq > released.start_seq
    assert complete(conn, released, "late") == "started"  # unchanged: another start holds it
    assert fail(conn, released, "late failure") == "started"
    assert step_state(conn, run_id, "a")["status"] == "started"
    assert complete(conn, current, "on time") == "completed"
    assert run_row(conn, run_id)["output"] == {"a": "on time"}


def test_released_start_does_not_use_up_an_attempt(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}], max_attempts=2)
    run_id = start(conn, "f")
    (task,) = claim(conn, "f")
    conn.execute("select pgflow.release_tasks(%s)", (task_worker(conn),))
    (task,) = claim(conn, "f")
    assert fail(conn, task, "first real failure") == "queued"
    assert run_row(conn, run_id)["status"] == "started"


def test_nothing_to_release(conn: Conn) -> None:
    assert one(conn, "select pgflow.release_tasks(%s)", (uuid.uuid4(),)) == 0


def task_worker(conn: Conn) -> uuid.UUID:
    """Return the worker holding the (only) started task."""
    worker_id: uuid.UUID = one(conn, "select last_worker_id from pgflow.step_tasks")
    return worker_id
