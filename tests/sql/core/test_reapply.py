"""The SQL core applies again on an installed database without error or data loss."""

from pgflow_yaml import core

from ..helpers import Conn, add_flow, claim, complete, run_row, start


def test_core_applies_twice_and_keeps_runs(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    run_id = start(conn, "f")
    core.install(conn)
    (task,) = claim(conn, "f")
    complete(conn, task, "ok")
    assert run_row(conn, run_id)["output"] == {"a": "ok"}
