"""drop_flow deletes a flow with its runs and queue; it refuses runs in progress unless forced."""

import psycopg
import pytest

from ..helpers import Conn, add_flow, claim, complete, one, rows, start


def _counts(conn: Conn, slug: str) -> dict[str, int]:
    tables = ["flows", "steps", "deps", "runs", "step_states", "step_tasks"]
    return {
        t: one(conn, f"select count(*) from pgflow.{t} where flow_slug = %s", (slug,))
        for t in tables
    }


def test_drops_everything_of_the_flow_and_nothing_else(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b", "deps": ["a"]}])
    add_flow(conn, "other", [{"slug": "x"}])
    start(conn, "f")
    (task,) = claim(conn, "f")
    complete(conn, task, 1)
    (b,) = claim(conn, "f")
    complete(conn, b, 2)
    start(conn, "other")
    assert one(conn, "select pgflow.drop_flow('f')") == 1
    assert _counts(conn, "f") == dict.fromkeys(_counts(conn, "f"), 0)
    assert rows(conn, "select queue_name from pgmq.meta order by queue_name") == [
        {"queue_name": "other"}
    ]
    assert one(conn, "select to_regclass('pgmq.q_f') is null and to_regclass('pgmq.a_f') is null")
    assert _counts(conn, "other") == {
        "flows": 1,
        "steps": 1,
        "deps": 0,
        "runs": 1,
        "step_states": 1,
        "step_tasks": 1,
    }


def test_flow_can_be_created_again_after_a_drop(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    conn.execute("select pgflow.drop_flow('f')")
    add_flow(conn, "f", [{"slug": "a", "step_type": "map"}])
    assert one(conn, "select step_type from pgflow.steps where flow_slug = 'f'") == "map"
    assert one(conn, "select count(*) from pgmq.meta where queue_name = 'f'") == 1


def test_refuses_runs_in_progress_unless_forced(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    start(conn, "f")
    start(conn, "f")
    with pytest.raises(psycopg.errors.ObjectInUse) as err:
        conn.execute("select pgflow.drop_flow('f')")
    assert err.value.diag.message_primary == (
        'Flow "f" has 2 run(s) in progress: cancel them, or drop with force => true'
    )
    assert one(conn, "select count(*) from pgflow.runs") == 2
    assert one(conn, "select pgflow.drop_flow('f', force => true)") == 2
    assert one(conn, "select count(*) from pgflow.flows") == 0


def test_unknown_flow_raises(conn: Conn) -> None:
    with pytest.raises(psycopg.errors.NoDataFound) as err:
        conn.execute("select pgflow.drop_flow('nope')")
    assert err.value.diag.message_primary == 'Flow "nope" does not exist'


def test_drops_the_flows_schedules_and_their_fire_records(conn: Conn) -> None:
    from ..schedules.calls import fire, scheduled_flow, utc

    scheduled_flow(conn, "f", cron="0 * * * *")
    scheduled_flow(conn, "other", cron="0 * * * *")
    assert fire(conn, utc("2026-03-20T01:00")) == [
        ("2026-03-20T01:00+00:00", "started"),
        ("2026-03-20T01:00+00:00", "started"),
    ]
    assert one(conn, "select pgflow.drop_flow('f', force => true)") == 1
    count = "select count(*) from pgflow.{} where flow_slug = %s"
    assert [one(conn, count.format(t), ("f",)) for t in ("schedules", "schedule_fires")] == [0, 0]
    assert [one(conn, count.format(t), ("other",)) for t in ("schedules", "schedule_fires")] == [
        1,
        1,
    ]


def _parent_and_child(conn: Conn) -> None:
    add_flow(conn, "child", [{"slug": "work"}])
    add_flow(conn, "parent", [{"slug": "enrich", "child_flow_slug": "child"}], max_attempts=2)


def test_forced_drop_of_a_child_flow_fails_the_parent_task_waiting_on_it(conn: Conn) -> None:
    _parent_and_child(conn)
    run_id = start(conn, "parent", {"customer": 7})
    assert one(conn, "select count(*) from pgflow.runs where parent_run_id = %s", (run_id,)) == 1
    assert one(conn, "select pgflow.drop_flow('child', force => true)") == 1
    task = rows(
        conn,
        "select status, error_type from pgflow.step_tasks where run_id = %s",
        (run_id,),
    )
    # the attempt failed; its retry finds no flow "child" and fails the run instead of waiting
    assert task == [{"status": "queued", "error_type": "child_run_cancelled"}]
    conn.execute("update pgflow.subflow_retries set due_at = clock_timestamp()")
    conn.execute("select pgflow.start_due_subflows()")
    assert one(conn, "select status from pgflow.runs where run_id = %s", (run_id,)) == "failed"
    message = one(
        conn,
        "select error_message from pgflow.step_tasks where run_id = %s",
        (run_id,),
    )
    assert message == 'Sub-flow step "enrich" runs flow "child", which does not exist'


def test_forced_drop_of_a_parent_flow_cancels_its_children_in_other_flows(conn: Conn) -> None:
    _parent_and_child(conn)
    run_id = start(conn, "parent", {})
    (child_id,) = [
        r["run_id"]
        for r in rows(conn, "select run_id from pgflow.runs where parent_run_id = %s", (run_id,))
    ]
    assert one(conn, "select pgflow.drop_flow('parent', force => true)") == 1
    assert one(conn, "select status from pgflow.runs where run_id = %s", (child_id,)) == "cancelled"
    assert claim(conn, "child") == []
