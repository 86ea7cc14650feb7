"""create_flow uses the pgflow 0.8.1 defaults and creates the flow's queue."""

from ..helpers import Conn, rows


def test_defaults_are_3_5_60(conn: Conn) -> None:
    (flow,) = rows(conn, "select * from pgflow.create_flow('orders')")
    assert (flow["opt_max_attempts"], flow["opt_base_delay"], flow["opt_timeout"]) == (3, 5, 60)


def test_creates_a_queue_named_after_the_flow(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('orders')")
    assert rows(conn, "select queue_name from pgmq.list_queues()") == [{"queue_name": "orders"}]
