"""The pgflow 0.8.1 worker sequence: read_with_poll, start_tasks, complete_task."""

from ..helpers import WORKER_ID, Conn, add_flow, one, register_worker, rows, run_row, start


def _read(conn: Conn, flow_slug: str) -> list[int]:
    return [
        r["msg_id"]
        for r in rows(
            conn,
            "select msg_id from pgmq.read_with_poll(queue_name => %s, vt => 5, qty => 10,"
            " max_poll_seconds => 1, poll_interval_ms => 50)",
            (flow_slug,),
        )
    ]


def test_worker_sequence_runs_a_flow(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b", "deps": ["a"]}])
    register_worker(conn, "f")
    run_id = start(conn, "f", {"x": 1})
    for expected_input in ({"run": {"x": 1}}, {"run": {"x": 1}, "a": "A"}):
        (task,) = rows(
            conn,
            "select * from pgflow.start_tasks(flow_slug => 'f', msg_ids => %s::bigint[],"
            " worker_id => %s::uuid)",
            (_read(conn, "f"), WORKER_ID),
        )
        assert task["input"] == expected_input
        assert set(task) == {"flow_slug", "run_id", "step_slug", "input", "msg_id", "task_index"}
        conn.execute(
            "select pgflow.complete_task(run_id => %s, step_slug => %s, task_index => %s,"
            " output => %s::jsonb)",
            (run_id, task["step_slug"], task["task_index"], '"A"'),
        )
    run = run_row(conn, run_id)
    assert (run["status"], run["output"]) == ("completed", {"b": "A"})


def test_ignores_messages_of_tasks_not_queued(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    start(conn, "f")
    msg_ids = _read(conn, "f")
    first = rows(conn, "select * from pgflow.start_tasks('f', %s, %s)", (msg_ids, WORKER_ID))
    again = rows(conn, "select * from pgflow.start_tasks('f', %s, %s)", (msg_ids, WORKER_ID))
    assert (len(first), again) == (1, [])
    assert one(conn, "select attempts_count from pgflow.step_tasks") == 1


def test_hides_message_for_step_timeout_plus_2(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "timeout": 30}])
    start(conn, "f")
    conn.execute("select pgflow.start_tasks('f', %s, %s)", (_read(conn, "f"), WORKER_ID))
    hidden = one(conn, "select extract(epoch from vt - clock_timestamp()) from pgmq.q_f")
    assert 30 < hidden <= 32
    (task,) = rows(conn, "select status, last_worker_id, started_at from pgflow.step_tasks")
    assert (task["status"], task["last_worker_id"]) == ("started", WORKER_ID)
