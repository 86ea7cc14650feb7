"""Sub-flow steps in the SQL core: child runs started by the core, their outcome on the parent."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

from ..helpers import (
    Conn,
    add_flow,
    age_started_tasks,
    claim,
    complete,
    fail,
    one,
    rows,
    run_row,
    start,
    step_state,
    step_statuses,
    task_statuses,
)


def _children(conn: Conn, run_id: uuid.UUID) -> list[dict[str, object]]:
    return rows(
        conn,
        "select * from pgflow.runs where parent_run_id = %s"
        " order by parent_step_slug, parent_task_index, started_at, run_id",
        (run_id,),
    )


def _flows(conn: Conn, *, child_attempts: int = 1, parent_attempts: int = 2) -> None:
    add_flow(conn, "child", [{"slug": "work"}], max_attempts=child_attempts)
    add_flow(
        conn,
        "parent",
        [
            {"slug": "prep"},
            {"slug": "enrich", "deps": ["prep"], "child_flow_slug": "child"},
            {"slug": "after", "deps": ["enrich"]},
        ],
        max_attempts=parent_attempts,
    )


def _prep_done(conn: Conn) -> uuid.UUID:
    run_id = start(conn, "parent", {"customer": 7})
    (prep,) = claim(conn, "parent")
    complete(conn, prep, {"score": 3})
    return run_id


def _enrich_tasks(conn: Conn, run_id: uuid.UUID) -> list[dict[str, object]]:
    query = "select * from pgflow.step_tasks where run_id = %s and step_slug = 'enrich'"
    return rows(conn, query, (run_id,))


def _due_now(conn: Conn) -> None:
    conn.execute("update pgflow.subflow_retries set due_at = clock_timestamp()")


def test_ready_subflow_step_starts_a_child_run_with_the_step_input(conn: Conn) -> None:
    _flows(conn)
    run_id = _prep_done(conn)
    (child,) = _children(conn, run_id)
    assert child["flow_slug"] == "child"
    assert (child["parent_step_slug"], child["parent_task_index"]) == ("enrich", 0)
    assert child["input"] == {"run": {"customer": 7}, "prep": {"score": 3}}
    (task,) = _enrich_tasks(conn, run_id)
    assert (task["status"], task["message_id"], task["last_worker_id"]) == ("started", None, None)
    assert step_state(conn, run_id, "enrich")["status"] == "started"
    assert claim(conn, "parent") == []  # the parent's queue holds nothing for the step


def test_child_output_completes_the_parent_task_and_dependents_start(conn: Conn) -> None:
    _flows(conn)
    run_id = _prep_done(conn)
    (work,) = claim(conn, "child")
    assert work.input == {"run": {"run": {"customer": 7}, "prep": {"score": 3}}}
    complete(conn, work, {"enriched": True})
    (child,) = _children(conn, run_id)
    assert child["status"] == "completed"
    enrich = step_state(conn, run_id, "enrich")
    assert (enrich["status"], enrich["output"]) == ("completed", {"work": {"enriched": True}})
    (after,) = claim(conn, "parent")
    assert after.step_slug == "after"
    assert after.input["enrich"] == {"work": {"enriched": True}}
    complete(conn, after, "done")
    assert run_row(conn, run_id)["status"] == "completed"


def test_map_subflow_step_collects_children_outputs_in_task_order(conn: Conn) -> None:
    add_flow(conn, "child", [{"slug": "double"}])
    add_flow(conn, "parent", [{"slug": "each", "step_type": "map", "child_flow_slug": "child"}])
    run_id = start(conn, "parent", [1, 2, 3, 4])
    children = _children(conn, run_id)
    assert [c["parent_task_index"] for c in children] == [0, 1, 2, 3]
    assert [c["input"] for c in children] == [1, 2, 3, 4]
    tasks = claim(conn, "child", qty=10)
    for task in sorted(tasks, key=lambda t: -t.input["run"]):  # complete in reverse order
        complete(conn, task, task.input["run"] * 2)
    run = run_row(conn, run_id)
    assert run["status"] == "completed"
    assert run["output"] == {"each": [{"double": 2}, {"double": 4}, {"double": 6}, {"double": 8}]}


def test_child_that_ends_within_its_start_settles_the_task_at_once(conn: Conn) -> None:
    add_flow(conn, "child", [{"slug": "each", "step_type": "map"}])
    add_flow(conn, "parent", [{"slug": "sub", "step_type": "map", "child_flow_slug": "child"}])
    run_id = start(conn, "parent", [[], []])
    assert run_row(conn, run_id)["output"] == {"sub": [{"each": []}, {"each": []}]}
    assert [c["status"] for c in _children(conn, run_id)] == ["completed", "completed"]


def test_failed_child_retries_the_task_with_a_new_child_after_its_delay(conn: Conn) -> None:
    _flows(conn)
    run_id = _prep_done(conn)
    (work,) = claim(conn, "child")
    fail(conn, work, "no such customer")
    (first,) = _children(conn, run_id)
    assert first["status"] == "failed"
    (task,) = _enrich_tasks(conn, run_id)
    assert task["status"] == "queued"
    assert task["error_type"] == "child_run_failed"
    assert task["error_message"] == (
        f'Child run {first["run_id"]} of flow "child" failed: no such customer'
    )
    due = one(conn, "select due_at > clock_timestamp() from pgflow.subflow_retries")
    assert due is True  # the retry waits out calculate_retry_delay
    assert one(conn, "select pgflow.start_due_subflows()") == 0
    _due_now(conn)
    assert one(conn, "select pgflow.start_due_subflows()") == 1
    first_again, second = _children(conn, run_id)
    assert first_again["run_id"] == first["run_id"]
    assert second["status"] == "started"
    assert one(conn, "select count(*) from pgflow.subflow_retries") == 0
    (work,) = claim(conn, "child")
    assert work.run_id == second["run_id"]
    complete(conn, work, "ok")
    assert step_state(conn, run_id, "enrich")["output"] == {"work": "ok"}
    (task,) = _enrich_tasks(conn, run_id)
    assert (task["status"], task["attempts_count"]) == ("completed", 2)


def test_exhausted_retries_fail_the_parent_run(conn: Conn) -> None:
    _flows(conn, parent_attempts=2)
    run_id = _prep_done(conn)
    for _ in range(2):
        (work,) = claim(conn, "child")
        fail(conn, work, "bad input")
        _due_now(conn)
        conn.execute("select pgflow.start_due_subflows()")
    run = run_row(conn, run_id)
    assert run["status"] == "failed"
    enrich = step_state(conn, run_id, "enrich")
    assert enrich["status"] == "failed"
    assert enrich["error_message"].endswith('of flow "child" failed: bad input')
    assert [c["status"] for c in _children(conn, run_id)] == ["failed", "failed"]
    assert step_statuses(conn, run_id)["after"] == "cancelled"


def test_cancel_parent_cancels_running_children_recursively(conn: Conn) -> None:
    add_flow(conn, "grandchild", [{"slug": "leaf"}])
    add_flow(conn, "child", [{"slug": "mid", "child_flow_slug": "grandchild"}])
    add_flow(conn, "parent", [{"slug": "top", "step_type": "map", "child_flow_slug": "child"}])
    run_id = start(conn, "parent", [1, 2])
    children = _children(conn, run_id)
    grandchildren = [g for c in children for g in _children(conn, c["run_id"])]
    assert len(grandchildren) == 2
    conn.execute("select pgflow.cancel_run(%s)", (run_id,))
    assert run_row(conn, run_id)["status"] == "cancelled"
    for run in [*children, *grandchildren]:
        assert run_row(conn, run["run_id"])["status"] == "cancelled"
    assert claim(conn, "grandchild") == []  # their tasks are gone from the queue


def test_cancelling_a_child_fails_its_parent_task_which_retries(conn: Conn) -> None:
    _flows(conn)
    run_id = _prep_done(conn)
    (child,) = _children(conn, run_id)
    conn.execute("select pgflow.cancel_run(%s)", (child["run_id"],))
    assert task_statuses(conn, run_id)[("enrich", 0)] == "queued"
    error_type = one(
        conn,
        "select error_type from pgflow.step_tasks where run_id = %s and step_slug = 'enrich'",
        (run_id,),
    )
    assert error_type == "child_run_cancelled"


def test_parent_failing_elsewhere_cancels_its_children(conn: Conn) -> None:
    add_flow(conn, "child", [{"slug": "work"}])
    add_flow(
        conn,
        "parent",
        [{"slug": "sub", "child_flow_slug": "child"}, {"slug": "side"}],
        max_attempts=1,
    )
    run_id = start(conn, "parent", {})
    (side,) = claim(conn, "parent")
    fail(conn, side, "side broke")
    assert run_row(conn, run_id)["status"] == "failed"
    (child,) = _children(conn, run_id)
    assert child["status"] == "cancelled"


def test_retry_run_of_parent_retries_its_failed_child(conn: Conn) -> None:
    add_flow(conn, "child", [{"slug": "a"}, {"slug": "b", "deps": ["a"]}], max_attempts=1)
    add_flow(conn, "parent", [{"slug": "sub", "child_flow_slug": "child"}], max_attempts=1)
    run_id = start(conn, "parent", {"x": 1})
    (a,) = claim(conn, "child")
    complete(conn, a, "a done")
    (b,) = claim(conn, "child")
    fail(conn, b, "b broke")
    assert run_row(conn, run_id)["status"] == "failed"
    (child,) = _children(conn, run_id)
    assert child["status"] == "failed"

    conn.execute("select pgflow.retry_run(%s)", (run_id,))
    (again,) = _children(conn, run_id)
    assert again["run_id"] == child["run_id"]  # the same child run, retried
    assert again["status"] == "started"
    assert step_statuses(conn, child["run_id"]) == {"a": "completed", "b": "started"}
    (b,) = claim(conn, "child")
    complete(conn, b, "b done")
    assert run_row(conn, run_id)["status"] == "completed"
    assert run_row(conn, run_id)["output"] == {"sub": {"b": "b done"}}


def test_missing_child_flow_fails_the_task_with_a_clear_message(conn: Conn) -> None:
    add_flow(conn, "parent", [{"slug": "sub", "child_flow_slug": "nowhere"}], max_attempts=3)
    run_id = start(conn, "parent", {})
    assert run_row(conn, run_id)["status"] == "failed"
    state = step_state(conn, run_id, "sub")
    assert state["error_message"] == 'Sub-flow step "sub" runs flow "nowhere", which does not exist'
    assert _children(conn, run_id) == []


def test_child_mapping_over_its_input_needs_an_array(conn: Conn) -> None:
    add_flow(conn, "child", [{"slug": "each", "step_type": "map"}])
    add_flow(conn, "parent", [{"slug": "sub", "child_flow_slug": "child"}])
    run_id = start(conn, "parent", {})
    assert step_state(conn, run_id, "sub")["error_message"] == (
        'Flow "child" maps over its input, but sub-flow step "sub" gives it object, not an array'
    )


def test_a_flow_that_runs_itself_stops_at_the_nesting_limit(conn: Conn) -> None:
    add_flow(conn, "loop", [{"slug": "again", "child_flow_slug": "loop"}], max_attempts=1)
    run_id = start(conn, "loop", {})
    assert run_row(conn, run_id)["status"] == "failed"
    depth = one(conn, "select count(*) from pgflow.runs")
    assert depth == 33  # the run and 32 nested children
    assert one(conn, "select count(*) from pgflow.runs where status = 'started'") == 0


def test_stalled_task_sweep_leaves_subflow_tasks_alone(conn: Conn) -> None:
    _flows(conn)
    run_id = _prep_done(conn)
    age_started_tasks(conn, run_id, 3600)
    assert one(conn, "select pgflow.requeue_stalled_tasks()") == 0
    assert task_statuses(conn, run_id)[("enrich", 0)] == "started"


def test_sweep_cancels_children_their_parent_left_running(conn: Conn) -> None:
    _flows(conn)
    run_id = _prep_done(conn)
    (child,) = _children(conn, run_id)
    # as if the child was locked by another transaction when the parent was cancelled
    conn.execute(
        "update pgflow.runs set status = 'cancelled', cancelled_at = clock_timestamp()"
        " where run_id = %s",
        (run_id,),
    )
    assert run_row(conn, child["run_id"])["status"] == "started"
    assert one(conn, "select pgflow.start_due_subflows()") == 1
    assert run_row(conn, child["run_id"])["status"] == "cancelled"


def test_add_step_refuses_to_change_what_a_subflow_step_runs(conn: Conn) -> None:
    add_flow(conn, "parent", [{"slug": "sub", "child_flow_slug": "a"}])
    with pytest.raises(psycopg.errors.RaiseException) as err:
        conn.execute("select pgflow.add_step('parent', 'sub', child_flow_slug => 'b')")
    assert "kind flow a vs flow b" in str(err.value)
    with pytest.raises(psycopg.errors.CheckViolation) as check:
        conn.execute(
            "select pgflow.add_step('parent', 'both', signal_schema => 'true',"
            " child_flow_slug => 'a')"
        )
    assert check.value.diag.constraint_name == "step_is_signal_or_subflow"


def test_stored_shape_names_the_child_flow(conn: Conn) -> None:
    add_flow(conn, "parent", [{"slug": "sub", "child_flow_slug": "a"}])
    shape = one(conn, "select pgflow._get_flow_shape('parent')")
    assert shape["steps"][0]["flow"] == "a"
    shape["steps"][0]["flow"] = "b"
    differences = one(
        conn, "select pgflow.compare_flow_shape('parent', %s::jsonb)", (Jsonb(shape),)
    )
    assert differences == ["step 0 (sub): kind flow a vs flow b"]


def test_concurrent_sweeps_start_a_due_retry_once(conn: Conn, dsn: str) -> None:
    import threading

    _flows(conn)
    run_id = _prep_done(conn)
    (work,) = claim(conn, "child")
    fail(conn, work, "first try")
    _due_now(conn)
    answers: list[int] = []
    with psycopg.connect(dsn) as first:
        # the first sweep takes the row and starts the child, and has not committed yet
        assert one(first, "select pgflow.start_due_subflows()") == 1

        def second_sweep() -> None:
            with psycopg.connect(dsn, autocommit=True) as second:
                answers.append(one(second, "select pgflow.start_due_subflows()"))

        waiter = threading.Thread(target=second_sweep)
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive()  # it waits for the parent run's lock
        first.commit()
        waiter.join(10)
    assert answers == [0]
    assert [c["status"] for c in _children(conn, run_id)] == ["failed", "started"]


def _timed_flows(conn: Conn, *, parent_attempts: int = 2, timeout: int | None = 30) -> None:
    add_flow(conn, "grandchild", [{"slug": "leaf"}])
    add_flow(conn, "child", [{"slug": "work"}, {"slug": "deeper", "child_flow_slug": "grandchild"}])
    enrich: dict[str, object] = {"slug": "enrich", "deps": ["prep"], "child_flow_slug": "child"}
    if timeout is not None:
        enrich["timeout"] = timeout
    add_flow(
        conn,
        "parent",
        [{"slug": "prep"}, enrich, {"slug": "after", "deps": ["enrich"]}],
        max_attempts=parent_attempts,
        timeout=5,  # a handler task's default: not a bound of the sub-flow step
    )


def _age_enrich(conn: Conn, run_id: uuid.UUID, seconds: int) -> None:
    conn.execute(
        "update pgflow.step_tasks set started_at = started_at - make_interval(secs => %s)"
        " where run_id = %s and step_slug = 'enrich' and status = 'started'",
        (seconds, run_id),
    )


def test_a_child_run_over_the_step_timeout_is_cancelled_and_the_task_retries(conn: Conn) -> None:
    _timed_flows(conn)
    run_id = _prep_done(conn)
    (first,) = _children(conn, run_id)
    (grandchild,) = _children(conn, first["run_id"])
    _age_enrich(conn, run_id, 29)
    assert one(conn, "select pgflow.start_due_subflows()") == 0  # within its 30 s
    _age_enrich(conn, run_id, 2)
    assert one(conn, "select pgflow.start_due_subflows()") == 1
    assert run_row(conn, first["run_id"])["status"] == "cancelled"
    assert run_row(conn, grandchild["run_id"])["status"] == "cancelled"
    (task,) = _enrich_tasks(conn, run_id)
    assert (task["status"], task["error_type"]) == ("queued", "child_run_timeout")
    assert task["error_message"] == (
        f'Child run {first["run_id"]} of flow "child" timed out after 30 s'
    )
    assert run_row(conn, run_id)["status"] == "started"
    # the retry starts a new child after its delay, and that one completes the step
    _due_now(conn)
    assert one(conn, "select pgflow.start_due_subflows()") == 1
    second = _children(conn, run_id)[-1]
    assert second["run_id"] != first["run_id"] and second["status"] == "started"
    for flow in ("child", "grandchild", "child"):
        for task_ in claim(conn, flow, qty=10):
            complete(conn, task_, "ok")
    assert step_state(conn, run_id, "enrich")["status"] == "completed"
    (task,) = _enrich_tasks(conn, run_id)
    assert (task["status"], task["attempts_count"]) == ("completed", 2)


def test_the_last_attempt_over_the_timeout_fails_the_parent_run(conn: Conn) -> None:
    _timed_flows(conn, parent_attempts=1)
    run_id = _prep_done(conn)
    (child,) = _children(conn, run_id)
    _age_enrich(conn, run_id, 31)
    assert one(conn, "select pgflow.start_due_subflows()") == 1
    assert run_row(conn, run_id)["status"] == "failed"
    assert run_row(conn, child["run_id"])["status"] == "cancelled"
    enrich = step_state(conn, run_id, "enrich")
    assert enrich["status"] == "failed"
    assert enrich["error_message"].endswith('of flow "child" timed out after 30 s')
    assert step_statuses(conn, run_id)["after"] == "cancelled"


def test_a_queued_child_counts_against_the_timeout(conn: Conn) -> None:
    _timed_flows(conn, parent_attempts=1)
    conn.execute("select pgflow.create_flow('child', concurrency_limit => 1)")
    holder = start(conn, "child", {})
    run_id = _prep_done(conn)
    (child,) = _children(conn, run_id)
    assert child["status"] == "queued"
    _age_enrich(conn, run_id, 31)
    assert one(conn, "select pgflow.start_due_subflows()") == 1
    assert run_row(conn, child["run_id"])["status"] == "cancelled"
    assert run_row(conn, holder)["status"] == "started"
    assert run_row(conn, run_id)["status"] == "failed"


def test_without_a_step_timeout_a_child_run_is_not_bounded(conn: Conn) -> None:
    # the flow's timeout (5 s here) bounds handler tasks only
    _timed_flows(conn, timeout=None)
    run_id = _prep_done(conn)
    _age_enrich(conn, run_id, 3600)
    assert one(conn, "select pgflow.start_due_subflows()") == 0
    assert task_statuses(conn, run_id)[("enrich", 0)] == "started"


def test_a_child_locked_elsewhere_is_timed_out_on_a_later_pass(conn: Conn, dsn: str) -> None:
    _timed_flows(conn, parent_attempts=1)
    run_id = _prep_done(conn)
    (child,) = _children(conn, run_id)
    _age_enrich(conn, run_id, 31)
    with psycopg.connect(dsn) as other:
        other.execute("select 1 from pgflow.runs where run_id = %s for update", (child["run_id"],))
        assert one(conn, "select pgflow.start_due_subflows()") == 0
    assert one(conn, "select pgflow.start_due_subflows()") == 1
    assert run_row(conn, child["run_id"])["status"] == "cancelled"
