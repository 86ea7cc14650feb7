"""get_run_with_states returns {run, steps} in step order, null for an unknown run."""

import uuid

from ..helpers import Conn, add_flow, one, start


def test_returns_run_and_steps(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "b"}, {"slug": "a", "deps": ["b"]}])
    run_id = start(conn, "f", {"k": 1})
    snapshot = one(conn, "select pgflow.get_run_with_states(%s)", (run_id,))
    assert snapshot["run"]["run_id"] == str(run_id)
    assert snapshot["run"]["input"] == {"k": 1}
    assert [(s["step_slug"], s["status"]) for s in snapshot["steps"]] == [
        ("b", "started"),
        ("a", "created"),
    ]


def test_unknown_run_is_null(conn: Conn) -> None:
    assert one(conn, "select pgflow.get_run_with_states(%s)", (uuid.uuid4(),)) is None
