"""An exhausted task applies its step's when_exhausted: fail, skip or skip-cascade."""

from ..helpers import (
    Conn,
    add_flow,
    claim,
    complete,
    fail,
    rows,
    run_row,
    start,
    step_state,
    step_statuses,
    task_statuses,
)


def test_fail_fails_step_and_run_and_cancels_siblings(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}, {"slug": "x"}], max_attempts=1)
    run_id = start(conn, "f", [1, 2, 3])
    tasks = claim(conn, "f", qty=2)
    assert fail(conn, tasks[0], "bad element") == "failed"
    run = run_row(conn, run_id)
    assert (run["status"], run["failed_at"] is not None) == ("failed", True)
    m = step_state(conn, run_id, "m")
    assert (m["status"], m["error_message"]) == ("failed", "bad element")
    assert task_statuses(conn, run_id) == {
        ("m", 0): "failed",
        ("m", 1): "cancelled",
        ("m", 2): "cancelled",
        ("x", 0): "cancelled",
    }
    assert rows(conn, "select * from pgmq.q_f") == []


def test_late_results_after_run_failure_are_ignored(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b"}], max_attempts=1)
    run_id = start(conn, "f")
    a, b = claim(conn, "f")
    fail(conn, a)
    assert complete(conn, b, "late") == "cancelled"
    assert fail(conn, b) == "cancelled"
    assert run_row(conn, run_id)["status"] == "failed"


def test_skip_skips_step_and_dependents_run_without_it(conn: Conn) -> None:
    add_flow(
        conn,
        "f",
        [{"slug": "a", "when_exhausted": "skip"}, {"slug": "b"}, {"slug": "c", "deps": ["a", "b"]}],
        max_attempts=1,
    )
    run_id = start(conn, "f", {"r": 1})
    tasks = {t.step_slug: t for t in claim(conn, "f")}
    fail(conn, tasks["a"], "no luck")
    a = step_state(conn, run_id, "a")
    assert (a["status"], a["skip_reason"], a["error_message"]) == (
        "skipped",
        "handler_failed",
        "no luck",
    )
    complete(conn, tasks["b"], "B")
    (c,) = claim(conn, "f")
    assert c.input == {"run": {"r": 1}, "b": "B"}
    complete(conn, c, "C")
    assert run_row(conn, run_id)["output"] == {"c": "C"}


def test_skip_on_map_task_skips_its_siblings(conn: Conn) -> None:
    add_flow(
        conn, "f", [{"slug": "m", "step_type": "map", "when_exhausted": "skip"}], max_attempts=1
    )
    run_id = start(conn, "f", [1, 2])
    first, second = claim(conn, "f")
    fail(conn, first)
    assert task_statuses(conn, run_id) == {("m", 0): "failed", ("m", 1): "skipped"}
    assert complete(conn, second, "late") == "skipped"
    assert run_row(conn, run_id)["status"] == "completed"


def test_skip_cascade_skips_downstream(conn: Conn) -> None:
    add_flow(
        conn,
        "f",
        [
            {"slug": "a", "when_exhausted": "skip-cascade"},
            {"slug": "b", "deps": ["a"]},
            {"slug": "c"},
        ],
        max_attempts=1,
    )
    run_id = start(conn, "f")
    tasks = {t.step_slug: t for t in claim(conn, "f")}
    fail(conn, tasks["a"])
    assert step_statuses(conn, run_id) == {"a": "skipped", "b": "skipped", "c": "started"}
    assert step_state(conn, run_id, "b")["skip_reason"] == "dependency_skipped"
    complete(conn, tasks["c"], 1)
    run = run_row(conn, run_id)
    assert (run["status"], run["output"]) == ("completed", {"c": 1})
