"""mark_worker_stopped records when a worker stopped."""

from ..helpers import WORKER_ID, Conn, one, register_worker


def test_sets_stopped_at(conn: Conn) -> None:
    register_worker(conn, "f")
    assert one(conn, "select stopped_at from pgflow.workers") is None
    conn.execute("select pgflow.mark_worker_stopped(%s)", (WORKER_ID,))
    assert one(conn, "select stopped_at is not null from pgflow.workers") is True
