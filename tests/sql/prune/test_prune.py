"""prune removes runs that ended before the cutoff, with their rows and archived messages."""

import psycopg
import pytest

from ..helpers import Conn, add_flow, claim, complete, fail, one, rows, run_row, start


def _finish(conn: Conn, flow: str) -> object:
    run_id = start(conn, flow)
    (task,) = claim(conn, flow)
    complete(conn, task, 1)
    return run_id


def test_prunes_old_finished_runs_only(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    old = _finish(conn, "f")
    recent = _finish(conn, "f")
    running = start(conn, "f")
    conn.execute(
        "update pgflow.runs set started_at = started_at - interval '2 days',"
        " completed_at = completed_at - interval '2 days' where run_id = %s",
        (old,),
    )
    assert one(conn, "select pgflow.prune(interval '1 day')") == 1
    assert {r["run_id"] for r in rows(conn, "select run_id from pgflow.runs")} == {recent, running}
    assert one(conn, "select count(*) from pgflow.step_states where run_id = %s", (old,)) == 0
    assert one(conn, "select count(*) from pgflow.step_tasks where run_id = %s", (old,)) == 0
    assert [
        r["run_id"] for r in rows(conn, "select message->>'run_id' as run_id from pgmq.a_f")
    ] == [str(recent)]


def _archived(conn: Conn, run_id: object) -> int:
    return one(conn, "select count(*) from pgmq.a_f where message->>'run_id' = %s", (str(run_id),))


def _complete_all(conn: Conn, run_id: object) -> None:
    while run_row(conn, run_id)["status"] == "started":
        tasks = claim(conn, "f", qty=10)
        assert tasks, "the run has no task to claim"
        for task in tasks:
            complete(conn, task, 1)


def test_prunes_the_messages_of_the_tasks_a_retry_recreated(conn: Conn) -> None:
    # a kept step (c completes before the failure), a failed one (a), one cancelled queued (b)
    add_flow(
        conn,
        "f",
        [
            {"slug": "a", "max_attempts": 1},
            {"slug": "b"},
            {"slug": "c"},
            {"slug": "d", "deps": ["a"]},
        ],
    )
    failed = start(conn, "f")
    tasks = {t.step_slug: t for t in claim(conn, "f", qty=10)}
    complete(conn, tasks["c"], 1)
    fail(conn, tasks["a"], "boom")
    assert run_row(conn, failed)["status"] == "failed"
    conn.execute("select pgflow.retry_run(%s)", (failed,))
    _complete_all(conn, failed)
    # a cancelled run with a queued task, retried twice
    cancelled = start(conn, "f")
    for _ in range(2):
        conn.execute("select pgflow.cancel_run(%s)", (cancelled,))
        conn.execute("select pgflow.retry_run(%s)", (cancelled,))
    _complete_all(conn, cancelled)
    assert _archived(conn, failed) > 0 and _archived(conn, cancelled) > 0

    assert one(conn, "select pgflow.prune(interval '0')") == 2
    assert _archived(conn, failed) == 0
    assert _archived(conn, cancelled) == 0
    assert one(conn, "select count(*) from pgmq.q_f") == 0


def test_prunes_stopped_workers(conn: Conn) -> None:
    conn.execute(
        "insert into pgflow.workers (worker_id, queue_name, function_name, stopped_at)"
        " values (gen_random_uuid(), 'f', 'w', now() - interval '3 days'),"
        " (gen_random_uuid(), 'f', 'w', null)"
    )
    conn.execute("select pgflow.prune(interval '1 day')")
    assert one(conn, "select count(*) from pgflow.workers") == 1


def test_rejects_negative_interval(conn: Conn) -> None:
    with pytest.raises(psycopg.errors.RaiseException) as err:
        conn.execute("select pgflow.prune(interval '-1 hour')")
    assert err.value.diag.message_primary == "older_than must not be negative (got -01:00:00)"
