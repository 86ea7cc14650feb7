"""release_tasks hands a stopping worker's started tasks back without consuming an attempt."""

import uuid

from ..helpers import Conn, add_flow, claim, one, rows, start


def test_releases_only_that_workers_tasks(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}])
    start(conn, "f", [1, 2, 3])
    leaving, staying = uuid.uuid4(), uuid.uuid4()
    claim(conn, "f", qty=2, worker_id=leaving)
    claim(conn, "f", qty=1, worker_id=staying)
    assert one(conn, "select pgflow.release_tasks(%s)", (leaving,)) == 2
    assert rows(
        conn, "select task_index, status, attempts_count from pgflow.step_tasks order by 1"
    ) == [
        {"task_index": 0, "status": "queued", "attempts_count": 0},
        {"task_index": 1, "status": "queued", "attempts_count": 0},
        {"task_index": 2, "status": "started", "attempts_count": 1},
    ]
    again = claim(conn, "f", worker_id=staying)
    assert [(t.task_index, t.attempt) for t in again] == [(0, 1), (1, 1)]


def test_nothing_to_release(conn: Conn) -> None:
    assert one(conn, "select pgflow.release_tasks(%s)", (uuid.uuid4(),)) == 0
