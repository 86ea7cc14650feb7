"""start_flow_with_states starts a run and returns its snapshot."""

import uuid

from ..helpers import Conn, add_flow, one


def test_starts_and_returns_snapshot(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    run_id = uuid.uuid4()
    snapshot = one(
        conn, "select pgflow.start_flow_with_states('f', '{\"x\": 2}'::jsonb, %s)", (run_id,)
    )
    assert snapshot["run"]["run_id"] == str(run_id)
    assert snapshot["run"]["status"] == "started"
    assert [s["status"] for s in snapshot["steps"]] == ["started"]
