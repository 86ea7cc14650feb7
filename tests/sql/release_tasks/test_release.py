"""release_tasks hands a stopping worker's started tasks back without consuming an attempt."""

import uuid

from ..helpers import Conn, add_flow, claim, fail, one, rows, run_row, start


def test_releases_only_that_workers_tasks(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}])
    start(conn, "f", [1, 2, 3])
    leaving, staying = uuid.uuid4(), uuid.uuid4()
    claim(conn, "f", qty=2, worker_id=leaving)
    claim(conn, "f", qty=1, worker_id=staying)
    assert one(conn, "select pgflow.release_tasks(%s)", (leaving,)) == 2
    assert rows(
        conn,
        "select task_index, status, attempts_count, last_worker_id"
        " from pgflow.step_tasks order by 1",
    ) == [
        {"task_index": 0, "status": "queued", "attempts_count": 0, "last_worker_id": None},
        {"task_index": 1, "status": "queued", "attempts_count": 0, "last_worker_id": None},
        {"task_index": 2, "status": "started", "attempts_count": 1, "last_worker_id": staying},
    ]
    again = claim(conn, "f", worker_id=staying)
    assert [(t.task_index, t.attempt) for t in again] == [(0, 1), (1, 1)]


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
