"""pgflow_runs notifications go out only while a session holds the listener lock (7342002).

`pgflow ui` takes that shared advisory lock on its listening connection; without any holder the
triggers' WHEN clause skips the trigger, so workers do not serialise their commits on NOTIFY.
"""

import psycopg

from ..helpers import Conn, add_flow, start

LISTENER_LOCK = 7342002


def _payloads(listener: Conn) -> list[str]:
    return [n.payload for n in listener.notifies(timeout=0.5, stop_after=5) if n.channel]


def test_nothing_is_sent_without_a_lock_holder(conn: Conn, dsn: str) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("listen pgflow_runs")
        start(conn, "f")
        assert _payloads(listener) == []


def test_a_lock_holder_gets_the_changed_run_ids(conn: Conn, dsn: str) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("select pg_advisory_lock_shared(%s)", (LISTENER_LOCK,))
        listener.execute("listen pgflow_runs")
        run_id = start(conn, "f")
        assert _payloads(listener) == [str(run_id)]


def test_the_lock_is_not_kept_by_the_writers(conn: Conn, dsn: str) -> None:
    """The WHEN clause lets go of the lock it tried: a listener can take it at any time."""
    add_flow(conn, "f", [{"slug": "a"}])
    start(conn, "f")
    with psycopg.connect(dsn, autocommit=True) as other:
        got = other.execute("select pg_try_advisory_lock(%s)", (LISTENER_LOCK,)).fetchone()
        assert got == (True,)


def test_notifications_stop_when_the_holder_lets_go(conn: Conn, dsn: str) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    with (
        psycopg.connect(dsn, autocommit=True) as listener,
        psycopg.connect(dsn, autocommit=True) as holder,
    ):
        holder.execute("select pg_advisory_lock_shared(%s)", (LISTENER_LOCK,))
        listener.execute("listen pgflow_runs")
        start(conn, "f")
        assert len(_payloads(listener)) == 1
        holder.execute("select pg_advisory_unlock_shared(%s)", (LISTENER_LOCK,))
        start(conn, "f")
        assert _payloads(listener) == []
