"""Sub-flow children of a flow with a run ``concurrency`` limit: the ones beyond the limit are
``queued``, and the parent's end must reach them too (not only its ``started`` children)."""

from __future__ import annotations

import uuid

from ..helpers import Conn, add_flow, claim, complete, fail, one, rows, run_row, start


def _children(conn: Conn, run_id: uuid.UUID) -> list[dict[str, object]]:
    return rows(
        conn,
        "select run_id, status from pgflow.runs where parent_run_id = %s"
        " order by parent_task_index",
        (run_id,),
    )


def _limited_child_flows(conn: Conn) -> None:
    add_flow(conn, "child", [{"slug": "work"}], concurrency_limit=2)
    add_flow(conn, "parent", [{"slug": "each", "step_type": "map", "child_flow_slug": "child"}])


def test_children_beyond_the_limit_are_queued_and_explained(conn: Conn) -> None:
    _limited_child_flows(conn)
    run_id = start(conn, "parent", [1, 2, 3, 4])
    children = _children(conn, run_id)
    assert [c["status"] for c in children] == ["started", "started", "queued", "queued"]
    reasons = rows(
        conn,
        "select reason, detail from pgflow.explain_run(%s)",
        (children[3]["run_id"],),
    )
    holding = sorted(str(c["run_id"]) for c in children[:2])
    assert reasons == [{"reason": "run_queued", "detail": {"position": 2, "holding_runs": holding}}]


def test_a_queued_child_keeps_its_parent_task_started_until_it_ends(conn: Conn) -> None:
    _limited_child_flows(conn)
    run_id = start(conn, "parent", [1, 2, 3])
    tasks = rows(
        conn,
        "select task_index, status, attempts_count from pgflow.step_tasks"
        " where run_id = %s order by task_index",
        (run_id,),
    )
    assert tasks == [{"task_index": i, "status": "started", "attempts_count": 1} for i in range(3)]
    first = claim(conn, "child", qty=10)
    assert sorted(t.input["run"] for t in first) == [1, 2]  # the third child waits its turn
    for work in first:
        complete(conn, work, work.input["run"] * 10)
    (last,) = claim(conn, "child", qty=10)  # a child that ended gave its slot to the third
    complete(conn, last, last.input["run"] * 10)
    assert len(_children(conn, run_id)) == 3  # one child each, none started again
    run = run_row(conn, run_id)
    assert run["status"] == "completed"
    assert run["output"] == {"each": [{"work": 10}, {"work": 20}, {"work": 30}]}


def test_cancelling_the_parent_cancels_its_queued_children_too(conn: Conn) -> None:
    _limited_child_flows(conn)
    run_id = start(conn, "parent", [1, 2, 3, 4, 5])
    other = start(conn, "child", {"alone": True})  # another run of the child flow, queued last
    assert run_row(conn, other)["status"] == "queued"

    conn.execute("select pgflow.cancel_run(%s)", (run_id,))
    assert [c["status"] for c in _children(conn, run_id)] == ["cancelled"] * 5
    assert run_row(conn, other)["status"] == "started"  # the freed slots go to the other run
    (task,) = claim(conn, "child", qty=10)  # no task of a cancelled child is in the queue
    assert task.run_id == other


def test_failing_the_parent_cancels_its_queued_children_too(conn: Conn) -> None:
    add_flow(conn, "child", [{"slug": "work"}], concurrency_limit=1)
    add_flow(
        conn,
        "parent",
        [{"slug": "prep"}, {"slug": "each", "step_type": "map", "child_flow_slug": "child"}],
        max_attempts=1,
    )
    run_id = start(conn, "parent", [1, 2, 3])
    assert [c["status"] for c in _children(conn, run_id)] == ["started", "queued", "queued"]
    (prep,) = claim(conn, "parent")
    conn.execute(
        "select pgflow.fail_task(%s, %s, %s, 'prep broke')",
        (prep.run_id, prep.step_slug, prep.task_index),
    )
    assert run_row(conn, run_id)["status"] == "failed"
    assert [c["status"] for c in _children(conn, run_id)] == ["cancelled"] * 3


def test_the_sweep_cancels_queued_children_their_parent_left(conn: Conn) -> None:
    _limited_child_flows(conn)
    run_id = start(conn, "parent", [1, 2, 3])
    # as if the children were locked by another transaction when the parent was cancelled
    conn.execute(
        "update pgflow.runs set status = 'cancelled', cancelled_at = clock_timestamp()"
        " where run_id = %s",
        (run_id,),
    )
    assert one(conn, "select pgflow.start_due_subflows()") == 3
    assert [c["status"] for c in _children(conn, run_id)] == ["cancelled"] * 3


def test_retry_of_the_parent_takes_up_children_that_queue_again(conn: Conn) -> None:
    add_flow(conn, "child", [{"slug": "work"}], concurrency_limit=1, max_attempts=1)
    add_flow(
        conn,
        "parent",
        [{"slug": "each", "step_type": "map", "child_flow_slug": "child"}],
        max_attempts=1,
    )
    run_id = start(conn, "parent", [1, 2])
    (work,) = claim(conn, "child")
    fail(conn, work, "broke")
    assert run_row(conn, run_id)["status"] == "failed"
    assert [c["status"] for c in _children(conn, run_id)] == ["failed", "cancelled"]

    conn.execute("select pgflow.retry_run(%s)", (run_id,))
    # each task takes up its child again: the first gets the slot, the second queues for it
    assert [c["status"] for c in _children(conn, run_id)] == ["started", "queued"]
    statuses = rows(conn, "select status from pgflow.step_tasks where run_id = %s", (run_id,))
    assert [t["status"] for t in statuses] == ["started", "started"]
    for _ in range(2):
        (work,) = claim(conn, "child")
        complete(conn, work, work.input["run"])
    assert run_row(conn, run_id)["output"] == {"each": [{"work": 1}, {"work": 2}]}
    assert len(_children(conn, run_id)) == 2  # the same two child runs throughout
