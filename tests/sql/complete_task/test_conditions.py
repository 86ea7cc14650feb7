"""Conditions of dependent steps are matched against their dependencies' outputs."""

from ..helpers import Conn, add_flow, claim, complete, rows, run_row, start, step_state


def test_if_not_pattern_skips_on_match(conn: Conn) -> None:
    add_flow(
        conn,
        "f",
        [
            {"slug": "a"},
            {"slug": "b", "deps": ["a"], "forbidden_input_pattern": {"a": {"spam": True}}},
        ],
    )
    run_id = start(conn, "f")
    (a,) = claim(conn, "f")
    complete(conn, a, {"spam": True})
    b = step_state(conn, run_id, "b")
    assert (b["status"], b["skip_reason"]) == ("skipped", "condition_unmet")
    run = run_row(conn, run_id)
    assert (run["status"], run["output"]) == ("completed", None)


def test_unmet_fail_cancels_running_siblings(conn: Conn) -> None:
    add_flow(
        conn,
        "f",
        [
            {"slug": "a"},
            {"slug": "slow"},
            {"slug": "b", "deps": ["a"], "required_input_pattern": {"a": 1}, "when_unmet": "fail"},
        ],
    )
    run_id = start(conn, "f")
    tasks = {t.step_slug: t for t in claim(conn, "f")}
    complete(conn, tasks["a"], 2)
    assert run_row(conn, run_id)["status"] == "failed"
    assert step_state(conn, run_id, "b")["error_message"] == "Condition not met"
    assert rows(conn, "select status from pgflow.step_tasks where step_slug = 'slow'") == [
        {"status": "cancelled"}
    ]
    assert rows(conn, "select * from pgmq.q_f") == []
    assert complete(conn, tasks["slow"], "late") == "cancelled"


def test_condition_checked_on_step_ready_inside_taskless_cascade(conn: Conn) -> None:
    add_flow(
        conn,
        "f",
        [
            {"slug": "a"},
            {"slug": "m", "deps": ["a"], "step_type": "map"},
            {"slug": "c", "deps": ["m"], "required_input_pattern": {"m": [1]}},
        ],
    )
    run_id = start(conn, "f")
    (a,) = claim(conn, "f")
    complete(conn, a, [])
    assert step_state(conn, run_id, "m")["status"] == "completed"
    c = step_state(conn, run_id, "c")
    assert (c["status"], c["skip_reason"]) == ("skipped", "condition_unmet")
    assert rows(conn, "select step_slug from pgflow.step_tasks") == [{"step_slug": "a"}]


def test_map_whose_source_was_skipped_completes_empty(conn: Conn) -> None:
    add_flow(
        conn,
        "f",
        [
            {"slug": "a", "required_input_pattern": {"go": True}},
            {"slug": "m", "deps": ["a"], "step_type": "map"},
        ],
    )
    run_id = start(conn, "f", {})
    m = step_state(conn, run_id, "m")
    assert (m["status"], m["output"]) == ("completed", [])
    assert run_row(conn, run_id)["output"] == {"m": []}
