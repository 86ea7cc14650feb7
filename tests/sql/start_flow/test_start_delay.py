"""A step's start_delay keeps its first message invisible for that long."""

from ..helpers import Conn, add_flow, claim, one, start


def test_delayed_message_is_not_claimable(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "start_delay": 30}])
    start(conn, "f")
    assert claim(conn, "f") == []
    delay = one(conn, "select extract(epoch from vt - enqueued_at)::int from pgmq.q_f")
    assert 29 <= delay <= 30
