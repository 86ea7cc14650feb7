"""start_flow sends NOTIFY pgflow_tasks with the flow slug for visible tasks, not delayed ones."""

import psycopg

from ..helpers import Conn, add_flow, start


def _notifications(listener: Conn) -> list[tuple[str, str]]:
    return [(n.channel, n.payload) for n in listener.notifies(timeout=0.5, stop_after=5)]


def test_notifies_on_visible_tasks(conn: Conn, dsn: str) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b"}])
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("listen pgflow_tasks")
        start(conn, "f")
        assert _notifications(listener) == [("pgflow_tasks", "f")]


def test_no_notification_for_delayed_tasks(conn: Conn, dsn: str) -> None:
    add_flow(conn, "f", [{"slug": "a", "start_delay": 60}])
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("listen pgflow_tasks")
        start(conn, "f")
        assert _notifications(listener) == []


def test_no_notification_while_visible_work_waits(conn: Conn, dsn: str) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    start(conn, "f")
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("listen pgflow_tasks")
        start(conn, "f")
        assert _notifications(listener) == []
