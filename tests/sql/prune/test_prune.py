"""prune removes runs that ended before the cutoff, with their rows and archived messages."""

import psycopg
import pytest

from ..helpers import Conn, add_flow, claim, complete, one, rows, start


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
