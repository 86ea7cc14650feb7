"""complete_and_claim: a report and a claim in one transaction (an idle worker's hand-off)."""

import json

import psycopg
import pytest

from ..helpers import (
    WORKER_ID,
    Conn,
    Task,
    add_flow,
    archived_count,
    claim,
    one,
    queue_depth,
    register_worker,
    rows,
    run_row,
    start,
    step_state,
)

CLAIMED = (
    "select flow_slug, run_id, step_slug, task_index, msg_id, attempt, timeout, input, start_seq"
    " from pgflow.complete_and_claim(%s::jsonb, %s, %s, %s)"
)


def _report(tasks: list[Task], output: object = 1) -> str:
    return json.dumps(
        [
            {
                "run_id": str(t.run_id),
                "step_slug": t.step_slug,
                "task_index": t.task_index,
                "attempt": t.attempt,
                "start_seq": t.start_seq,
                "output": output,
            }
            for t in tasks
        ]
    )


def _complete_and_claim(conn: Conn, tasks: list[Task], flows: list[str], qty: int) -> list[Task]:
    found = conn.execute(CLAIMED, (_report(tasks), flows, WORKER_ID, qty)).fetchall()
    return [Task(*row) for row in found]


def test_the_report_claims_the_step_it_made_ready(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b", "deps": ["a"]}])
    register_worker(conn, "f")
    run_id = start(conn, "f", {"x": 1})
    (a,) = claim(conn, "f")
    (b,) = _complete_and_claim(conn, [a], ["f"], 10)
    assert (b.run_id, b.step_slug, b.input) == (run_id, "b", {"run": {"x": 1}, "a": 1})
    assert step_state(conn, run_id, "a")["status"] == "completed"
    assert step_state(conn, run_id, "b")["status"] == "started"
    # a's message is archived, b's stays in the queue hidden for its timeout (as claim_tasks)
    assert archived_count(conn, "f") == 1
    assert queue_depth(conn, "f") == 1
    assert claim(conn, "f") == []
    assert _complete_and_claim(conn, [b], ["f"], 10) == []
    assert run_row(conn, run_id)["status"] == "completed"
    assert archived_count(conn, "f") == 2


def test_the_claim_takes_other_visible_tasks_of_the_flows_up_to_qty(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b", "deps": ["a"]}])
    add_flow(conn, "g", [{"slug": "only"}])
    register_worker(conn, "f,g")
    start(conn, "f")
    (a,) = claim(conn, "f")
    for _ in range(3):
        start(conn, "g")
    claimed = _complete_and_claim(conn, [a], ["f", "g"], 3)
    assert len(claimed) == 3
    assert len(claim(conn, ["f", "g"])) == 1  # the fourth visible task is left for later


def test_a_stale_report_changes_nothing_and_the_claim_still_happens(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    register_worker(conn, "f")
    first = start(conn, "f")
    (a,) = claim(conn, "f")
    conn.execute(CLAIMED, (_report([a]), ["f"], WORKER_ID, 10))
    second = start(conn, "f")
    # the same report again (a duplicate is fenced out), with the claim of the next task
    (again,) = _complete_and_claim(conn, [a], ["f"], 10)
    assert again.run_id == second
    assert run_row(conn, first)["output"] == {"a": 1}


def test_a_refused_call_completes_nothing(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    register_worker(conn, "f")
    run_id = start(conn, "f")
    (a,) = claim(conn, "f")
    with pytest.raises(psycopg.errors.RaiseException):
        conn.execute(CLAIMED, (_report([a]), ["f", "missing"], WORKER_ID, 10))
    assert step_state(conn, run_id, "a")["status"] == "started"
    assert [r["status"] for r in rows(conn, "select status from pgflow.step_tasks")] == ["started"]


def _notifications(listener: Conn) -> list[tuple[str, str]]:
    return [(n.channel, n.payload) for n in listener.notifies(timeout=0.5, stop_after=5)]


def test_no_wake_up_for_the_tasks_its_claim_took(conn: Conn, dsn: str) -> None:
    # the report made b visible and the claim took it: nothing left for anyone to wake for
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b", "deps": ["a"]}])
    register_worker(conn, "f")
    start(conn, "f")
    (a,) = claim(conn, "f")
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("listen pgflow_tasks")
        assert len(_complete_and_claim(conn, [a], ["f"], 10)) == 1
        assert _notifications(listener) == []
        # the transaction's settings do not outlive the call: complete_tasks notifies again
        run_id = start(conn, "f")
        assert _notifications(listener) == [("pgflow_tasks", "f")]
    assert one(conn, "select current_setting('pgflow.defer_wakes', true)") in (None, "")
    assert run_id


def test_a_wake_up_when_its_claim_may_have_left_tasks(conn: Conn, dsn: str) -> None:
    # two runs' first steps done in one report: two tasks visible, a claim of one leaves one
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b", "deps": ["a"]}])
    register_worker(conn, "f")
    start(conn, "f")
    start(conn, "f")
    firsts = claim(conn, "f")
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("listen pgflow_tasks")
        assert len(_complete_and_claim(conn, firsts, ["f"], 1)) == 1
        assert _notifications(listener) == [("pgflow_tasks", "f")]
    assert len(claim(conn, "f")) == 1
