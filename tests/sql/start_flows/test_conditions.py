"""start_flows resolves the root steps' conditions against each run's own input."""

from ..helpers import Conn, add_flow, rows, step_state, step_statuses
from .calls import queued_messages, start_flows


def test_unmet_condition_skips_the_step_of_that_run_only(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "required_input_pattern": {"go": True}}, {"slug": "b"}])
    go, stay = start_flows(conn, "f", [{"go": True}, {"go": False}])
    assert step_statuses(conn, go["run_id"]) == {"a": "started", "b": "started"}
    skipped = step_state(conn, stay["run_id"], "a")
    assert (skipped["status"], skipped["skip_reason"]) == ("skipped", "condition_unmet")
    assert step_statuses(conn, stay["run_id"])["b"] == "started"
    assert (go["remaining_steps"], stay["remaining_steps"]) == (2, 1)
    assert queued_messages(conn, "f") == [
        (str(go["run_id"]), "a", 0),
        (str(go["run_id"]), "b", 0),
        (str(stay["run_id"]), "b", 0),
    ]


def test_unmet_fail_fails_that_run_and_starts_the_others(conn: Conn) -> None:
    add_flow(
        conn,
        "f",
        [
            {"slug": "a"},
            {"slug": "b", "forbidden_input_pattern": {"stop": True}, "when_unmet": "fail"},
        ],
    )
    runs = start_flows(conn, "f", [{"stop": False}, {"stop": True}, {}])
    assert [r["status"] for r in runs] == ["started", "failed", "started"]
    failed = step_state(conn, runs[1]["run_id"], "b")
    assert (failed["status"], failed["error_message"]) == ("failed", "Condition not met")
    assert (
        rows(conn, "select * from pgflow.step_tasks where run_id = %s", (runs[1]["run_id"],)) == []
    )
    assert queued_messages(conn, "f") == [
        (str(runs[0]["run_id"]), "a", 0),
        (str(runs[0]["run_id"]), "b", 0),
        (str(runs[2]["run_id"]), "a", 0),
        (str(runs[2]["run_id"]), "b", 0),
    ]
