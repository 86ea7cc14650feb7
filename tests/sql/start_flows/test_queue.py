"""start_flows queues the root tasks of all its runs in input order, and wakes workers once."""

import uuid

import psycopg

from ..helpers import Conn, add_flow, rows, start
from .calls import queued_messages, start_flows


def _notifications(listener: Conn) -> list[tuple[str, str]]:
    return [(n.channel, n.payload) for n in listener.notifies(timeout=0.5, stop_after=5)]


def test_messages_follow_input_order_then_step_order_then_task_index(conn: Conn) -> None:
    # declared s before m, and run ids that sort against the input order
    add_flow(conn, "f", [{"slug": "s"}, {"slug": "m", "step_type": "map"}])
    late = uuid.UUID("ffffffff-0000-4000-8000-000000000000")
    early = uuid.UUID("00000000-0000-4000-8000-000000000000")
    start_flows(conn, "f", [[1, 2], [3]], [late, early])
    assert queued_messages(conn, "f") == [
        (str(late), "s", 0),
        (str(late), "m", 0),
        (str(late), "m", 1),
        (str(early), "s", 0),
        (str(early), "m", 0),
    ]


def test_each_task_records_its_message(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}])
    start_flows(conn, "f", [[1, 2], [3]])
    assert rows(
        conn,
        "select t.step_slug, t.task_index, t.status from pgflow.step_tasks t"
        " join pgmq.q_f q on q.msg_id = t.message_id"
        " and q.message ->> 'run_id' = t.run_id::text"
        " and (q.message ->> 'task_index')::int = t.task_index"
        " order by q.msg_id",
    ) == [
        {"step_slug": "m", "task_index": 0, "status": "queued"},
        {"step_slug": "m", "task_index": 1, "status": "queued"},
        {"step_slug": "m", "task_index": 0, "status": "queued"},
    ]


def test_a_batch_notifies_once(conn: Conn, dsn: str) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b"}])
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("listen pgflow_tasks")
        start_flows(conn, "f", [{}, {}, {}])
        assert _notifications(listener) == [("pgflow_tasks", "f")]


def test_no_notification_while_visible_work_waits(conn: Conn, dsn: str) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    start(conn, "f")
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("listen pgflow_tasks")
        start_flows(conn, "f", [{}, {}])
        assert _notifications(listener) == []


def test_no_notification_for_delayed_tasks(conn: Conn, dsn: str) -> None:
    add_flow(conn, "f", [{"slug": "a", "start_delay": 60}])
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("listen pgflow_tasks")
        start_flows(conn, "f", [{}, {}])
        assert _notifications(listener) == []
