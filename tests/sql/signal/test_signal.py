"""pgflow.signal and pgflow.expire_waiting_steps: signal steps wait, holding no task."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from ..helpers import (
    Conn,
    add_flow,
    claim,
    complete,
    dump,
    one,
    queue_depth,
    run_row,
    start,
    step_state,
    step_statuses,
)

APPROVAL = {"type": "object", "required": ["approved"]}


def _approval_flow(conn: Conn, **approve: object) -> None:
    add_flow(
        conn,
        "f",
        [
            {"slug": "draft"},
            {"slug": "approve", "deps": ["draft"], "signal_schema": APPROVAL, **approve},
            {"slug": "publish", "deps": ["approve"]},
        ],
    )


def _signal(conn: Conn, run_id: uuid.UUID, step: str, payload: object) -> str:
    status: str = one(
        conn, "select pgflow.signal(%s, %s, %s::jsonb)", (run_id, step, dump(payload))
    )
    return status


def _refusal(conn: Conn, run_id: uuid.UUID, step: str, payload: object = None) -> str:
    with pytest.raises(psycopg.Error) as err:
        conn.execute(
            "select pgflow.signal(%s, %s, %s::jsonb)",
            (run_id, step, None if payload is None else dump(payload)),
        )
    assert err.value.sqlstate in ("PF010", "P0002")
    return str(err.value.diag.message_primary)


def _draft_done(conn: Conn) -> uuid.UUID:
    run_id = start(conn, "f", {"doc": 1})
    (draft,) = claim(conn, "f")
    complete(conn, draft, {"text": "hello"})
    return run_id


def test_a_ready_signal_step_waits_with_no_task_or_message(conn: Conn) -> None:
    _approval_flow(conn)
    run_id = _draft_done(conn)
    state = step_state(conn, run_id, "approve")
    assert (state["status"], state["started_at"] is not None) == ("waiting", True)
    assert one(conn, "select count(*) from pgflow.step_tasks where step_slug = 'approve'") == 0
    assert queue_depth(conn, "f") == 0
    assert claim(conn, "f") == []


def test_signal_completes_the_step_with_its_payload_and_advances_the_run(conn: Conn) -> None:
    _approval_flow(conn)
    run_id = _draft_done(conn)
    assert _signal(conn, run_id, "approve", {"approved": True}) == "completed"
    assert step_state(conn, run_id, "approve")["output"] == {"approved": True}
    (publish,) = claim(conn, "f")
    assert publish.step_slug == "publish"
    assert publish.input == {"run": {"doc": 1}, "approve": {"approved": True}}
    complete(conn, publish, "done")
    assert run_row(conn, run_id)["status"] == "completed"


def test_a_signal_rolled_back_with_the_callers_transaction_leaves_the_step_waiting(
    conn: Conn,
) -> None:
    _approval_flow(conn)
    run_id = _draft_done(conn)
    conn.execute("create table public.orders (id int)")
    with pytest.raises(RuntimeError), conn.transaction():
        conn.execute("insert into public.orders values (1)")
        _signal(conn, run_id, "approve", {"approved": True})
        raise RuntimeError("the application's write failed")
    assert step_state(conn, run_id, "approve")["status"] == "waiting"
    with conn.transaction():
        conn.execute("insert into public.orders values (2)")
        _signal(conn, run_id, "approve", {"approved": False})
    assert step_state(conn, run_id, "approve")["output"] == {"approved": False}
    assert one(conn, "select array_agg(id) from public.orders") == [2]
    conn.execute("drop table public.orders")


def test_an_early_signal_is_kept_and_applied_when_the_step_becomes_ready(conn: Conn) -> None:
    _approval_flow(conn)
    run_id = start(conn, "f", {"doc": 1})
    assert _signal(conn, run_id, "approve", {"approved": True}) == "pending"
    assert step_state(conn, run_id, "approve")["status"] == "created"
    assert _refusal(conn, run_id, "approve", {"approved": False}) == (
        f'Step "approve" of run "{run_id}" already has a signal for task 0'
    )
    (draft,) = claim(conn, "f")
    complete(conn, draft, {"text": "hello"})
    assert step_statuses(conn, run_id) == {
        "draft": "completed",
        "approve": "completed",
        "publish": "started",
    }
    assert step_state(conn, run_id, "approve")["output"] == {"approved": True}
    assert one(conn, "select count(*) from pgflow.pending_signals") == 0


def test_a_first_step_that_waits_for_a_signal(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "go", "signal_schema": True}])
    run_id = start(conn, "f")
    assert step_state(conn, run_id, "go")["status"] == "waiting"
    assert _signal(conn, run_id, "go", 7) == "completed"
    assert run_row(conn, run_id)["status"] == "completed"
    assert run_row(conn, run_id)["output"] == {"go": 7}


def test_refusals_name_the_reason(conn: Conn) -> None:
    _approval_flow(conn)
    run_id = _draft_done(conn)
    assert _refusal(conn, run_id, "approve") == "the payload of a signal must be JSON, got null"
    assert _refusal(conn, run_id, "nope", {}) == 'Flow "f" has no step "nope"'
    assert _refusal(conn, run_id, "draft", {}) == (
        'Step "draft" of flow "f" is not a signal step (it runs a handler)'
    )
    missing = uuid.UUID(int=5)
    assert _refusal(conn, missing, "approve", {}) == f'Run "{missing}" does not exist'
    _signal(conn, run_id, "approve", {"approved": True})
    assert _refusal(conn, run_id, "approve", {"approved": True}) == (
        f'Step "approve" of run "{run_id}" already completed: a second signal is refused'
    )
    with pytest.raises(psycopg.Error) as err:
        conn.execute("select pgflow.signal(%s, 'approve', '{}', 3)", (run_id,))
    assert err.value.diag.message_primary == (
        'Step "approve" has one task, task_index must be 0 (got 3)'
    )


def test_signals_for_cancelled_or_finished_runs_are_refused(conn: Conn) -> None:
    _approval_flow(conn)
    run_id = _draft_done(conn)
    conn.execute("select pgflow.cancel_run(%s)", (run_id,))
    assert _refusal(conn, run_id, "approve", {"approved": True}) == (
        f'Run "{run_id}" is cancelled: signals are refused'
    )
    add_flow(conn, "g", [{"slug": "go", "signal_schema": True}])
    done = start(conn, "g")
    _signal(conn, done, "go", 1)
    assert _refusal(conn, done, "go", 1) == f'Run "{done}" is completed: signals are refused'


def _expire(conn: Conn, run_id: uuid.UUID) -> int:
    """Pretend the run's waiting steps became ready a day ago, then run the maintenance call."""
    conn.execute(
        "update pgflow.step_states set created_at = created_at - interval '1 day',"
        " started_at = started_at - interval '1 day' where run_id = %s and status = 'waiting'",
        (run_id,),
    )
    count: int = one(conn, "select pgflow.expire_waiting_steps()")
    return count


def test_a_step_waits_until_its_timeout(conn: Conn) -> None:
    _approval_flow(conn, timeout=3600)
    run_id = _draft_done(conn)
    assert one(conn, "select pgflow.expire_waiting_steps()") == 0
    assert step_state(conn, run_id, "approve")["status"] == "waiting"


def test_timeout_fail_fails_the_run(conn: Conn) -> None:
    _approval_flow(conn, timeout=3600)
    run_id = _draft_done(conn)
    assert _expire(conn, run_id) == 1
    state = step_state(conn, run_id, "approve")
    assert (state["status"], state["error_message"]) == (
        "failed",
        "No signal received within 3600 seconds",
    )
    assert run_row(conn, run_id)["status"] == "failed"
    assert _refusal(conn, run_id, "approve", {"approved": True}) == (
        f'Run "{run_id}" is failed: signals are refused'
    )


def test_timeout_skip_runs_the_dependents_without_its_output(conn: Conn) -> None:
    _approval_flow(conn, when_exhausted="skip")
    run_id = _draft_done(conn)
    assert _expire(conn, run_id) == 1
    state = step_state(conn, run_id, "approve")
    assert (state["status"], state["skip_reason"]) == ("skipped", "signal_timeout")
    (publish,) = claim(conn, "f")
    assert publish.input == {"run": {"doc": 1}}
    complete(conn, publish, "done")
    assert run_row(conn, run_id)["status"] == "completed"


def test_timeout_skip_cascade_skips_the_dependents_and_completes_the_run(conn: Conn) -> None:
    _approval_flow(conn, when_exhausted="skip-cascade")
    run_id = _draft_done(conn)
    assert _expire(conn, run_id) == 1
    assert step_statuses(conn, run_id) == {
        "draft": "completed",
        "approve": "skipped",
        "publish": "skipped",
    }
    assert step_state(conn, run_id, "publish")["skip_reason"] == "dependency_skipped"
    assert run_row(conn, run_id)["status"] == "completed"


def test_a_thousand_waiting_runs_hold_no_task_and_no_message(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "go", "signal_schema": True}])
    run_ids = [
        r[0]
        for r in conn.execute(
            "select run_id from pgflow.start_flows('f', %s::jsonb)", (dump([{}] * 1000),)
        ).fetchall()
    ]
    assert len(run_ids) == 1000
    assert one(conn, "select count(*) from pgflow.step_states where status = 'waiting'") == 1000
    assert one(conn, "select count(*) from pgflow.step_tasks") == 0
    assert queue_depth(conn, "f") == 0
    assert one(conn, "select pgflow.expire_waiting_steps()") == 0


def test_retry_of_a_timed_out_run_waits_again(conn: Conn) -> None:
    _approval_flow(conn, timeout=3600)
    run_id = _draft_done(conn)
    _expire(conn, run_id)
    conn.execute("select pgflow.retry_run(%s)", (run_id,))
    assert step_state(conn, run_id, "approve")["status"] == "waiting"
    assert _signal(conn, run_id, "approve", {"approved": True}) == "completed"
