"""_start_ready_steps sends a flow's tasks with a statement prepared once per session and queue."""

import hashlib

from ..helpers import Conn, add_flow, claim, complete, one, queue_depth, rows, start

NAME = "pgflow_start_" + hashlib.md5(b"q_f").hexdigest()


def test_the_statement_is_prepared_once_and_serves_later_steps(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b", "deps": ["a"]}])
    start(conn, "f")
    assert one(conn, "select count(*) from pg_prepared_statements where name = %s", (NAME,)) == 1
    prepared = "select prepare_time from pg_prepared_statements where name = %s"
    first = one(conn, prepared, (NAME,))
    (task,) = claim(conn, "f")
    complete(conn, task, 1)
    assert rows(conn, "select step_slug, status from pgflow.step_tasks order by step_slug") == [
        {"step_slug": "a", "status": "completed"},
        {"step_slug": "b", "status": "queued"},
    ]
    # the same statement served the second step: not prepared again (its parameter types and
    # origin, SQL PREPARE, match what the function checks before reusing it)
    assert one(conn, "select count(*) from pg_prepared_statements where name = %s", (NAME,)) == 1
    assert one(conn, prepared, (NAME,)) == first


def test_a_flow_dropped_and_created_again_in_the_session_gets_its_new_queue(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    start(conn, "f")
    assert one(conn, "select pgflow.drop_flow('f', force => true)") == 1
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b"}])
    run_id = start(conn, "f")
    assert queue_depth(conn, "f") == 2
    assert rows(
        conn,
        "select message ->> 'step_slug' as step_slug, message ->> 'run_id' as run_id"
        " from pgmq.q_f order by msg_id",
    ) == [{"step_slug": "a", "run_id": str(run_id)}, {"step_slug": "b", "run_id": str(run_id)}]


def test_a_sessions_own_statement_under_the_name_is_not_run(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    conn.execute(
        f"prepare {NAME}(text, uuid[], text[], int[], int[], boolean) as select false"
        " where $1 <> ''"
    )
    start(conn, "f")
    assert queue_depth(conn, "f") == 1
    assert one(conn, "select count(*) from pgflow.step_tasks where status = 'queued'") == 1
    statement = one(conn, "select statement from pg_prepared_statements where name = %s", (NAME,))
    assert "insert into pgflow.step_tasks" in statement
