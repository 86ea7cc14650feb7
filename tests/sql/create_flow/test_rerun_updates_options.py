"""create_flow on an existing flow sets its options instead of ignoring them."""

from ..helpers import Conn, rows


def test_rerun_updates_options(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('orders', max_attempts => 2, base_delay => 1)")
    conn.execute("select pgflow.create_flow('orders', max_attempts => 7, timeout => 30)")
    (flow,) = rows(conn, "select * from pgflow.flows")
    assert (flow["opt_max_attempts"], flow["opt_base_delay"], flow["opt_timeout"]) == (7, 5, 30)
    assert len(rows(conn, "select * from pgmq.list_queues()")) == 1
