"""Conditions of root steps are matched against the run input when the run starts."""

from ..helpers import Conn, add_flow, rows, run_row, start, step_state, step_statuses


def test_met_condition_starts_the_step(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "required_input_pattern": {"go": True}}])
    run_id = start(conn, "f", {"go": True, "other": 1})
    assert step_statuses(conn, run_id) == {"a": "started"}


def test_unmet_skip_skips_the_step_and_its_child_runs_without_it(conn: Conn) -> None:
    add_flow(
        conn,
        "f",
        [
            {"slug": "a", "required_input_pattern": {"go": True}},
            {"slug": "b"},
            {"slug": "c", "deps": ["a", "b"]},
        ],
    )
    run_id = start(conn, "f", {"go": False})
    a = step_state(conn, run_id, "a")
    assert (a["status"], a["skip_reason"]) == ("skipped", "condition_unmet")
    assert step_state(conn, run_id, "c")["remaining_deps"] == 1
    assert run_row(conn, run_id)["remaining_steps"] == 2


def test_unmet_fail_fails_the_run(conn: Conn) -> None:
    add_flow(
        conn,
        "f",
        [
            {"slug": "a"},
            {"slug": "b", "forbidden_input_pattern": {"stop": True}, "when_unmet": "fail"},
        ],
    )
    run_id = start(conn, "f", {"stop": True})
    assert run_row(conn, run_id)["status"] == "failed"
    b = step_state(conn, run_id, "b")
    assert (b["status"], b["error_message"]) == ("failed", "Condition not met")
    assert step_state(conn, run_id, "a")["status"] == "cancelled"  # its run failed first
    assert rows(conn, "select * from pgflow.step_tasks") == []


def test_unmet_skip_cascade_skips_everything_downstream(conn: Conn) -> None:
    add_flow(
        conn,
        "f",
        [
            {"slug": "a", "required_input_pattern": {"go": True}, "when_unmet": "skip-cascade"},
            {"slug": "b", "deps": ["a"]},
            {"slug": "c", "deps": ["b"]},
            {"slug": "d"},
        ],
    )
    run_id = start(conn, "f", {})
    assert step_statuses(conn, run_id) == {
        "a": "skipped",
        "b": "skipped",
        "c": "skipped",
        "d": "started",
    }
    assert step_state(conn, run_id, "b")["skip_reason"] == "dependency_skipped"
    assert run_row(conn, run_id)["remaining_steps"] == 1


def test_all_steps_skipped_completes_run_with_null_output(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "required_input_pattern": {"go": True}}])
    run = run_row(conn, start(conn, "f", {}))
    assert (run["status"], run["output"]) == ("completed", None)
