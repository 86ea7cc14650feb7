"""create_flow on an existing flow sets the options it is given and keeps the others."""

from ..helpers import Conn, rows


def _options(conn: Conn) -> tuple[int, int, int]:
    (flow,) = rows(conn, "select * from pgflow.flows")
    return flow["opt_max_attempts"], flow["opt_base_delay"], flow["opt_timeout"]


def test_bare_rerun_keeps_every_option(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('orders', max_attempts => 2, base_delay => 1)")
    (flow,) = rows(conn, "select * from pgflow.create_flow('orders')")
    assert (flow["opt_max_attempts"], flow["opt_base_delay"], flow["opt_timeout"]) == (2, 1, 60)
    assert _options(conn) == (2, 1, 60)
    assert len(rows(conn, "select * from pgmq.list_queues()")) == 1


def test_rerun_sets_given_options_and_keeps_the_others(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('orders', max_attempts => 2, base_delay => 1)")
    conn.execute("select pgflow.create_flow('orders', max_attempts => 7, timeout => 30)")
    assert _options(conn) == (7, 1, 30)


def test_explicit_null_sets_the_default(conn: Conn) -> None:
    conn.execute(
        "select pgflow.create_flow('orders', max_attempts => 2, base_delay => 1, timeout => 9)"
    )
    conn.execute("select pgflow.create_flow('orders', base_delay => null, timeout => null)")
    assert _options(conn) == (2, 5, 60)


def test_first_call_with_explicit_null_uses_the_defaults(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('orders', max_attempts => null, timeout => 5)")
    assert _options(conn) == (3, 5, 5)
