"""Map steps: one task per element, fan-in in task order, dependent maps sized by the parent."""

from ..helpers import Conn, add_flow, claim, complete, rows, run_row, start, step_state


def test_root_map_tasks_get_their_element(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}])
    start(conn, "f", ["a", {"b": 1}, None])
    assert [(t.task_index, t.input) for t in claim(conn, "f")] == [
        (0, "a"),
        (1, {"b": 1}),
        (2, None),
    ]


def test_fan_in_keeps_task_order_whatever_the_completion_order(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}, {"slug": "s", "deps": ["m"]}])
    run_id = start(conn, "f", [1, 2, 3])
    for task in reversed(claim(conn, "f")):
        complete(conn, task, task.input * 10)
    assert step_state(conn, run_id, "m")["output"] == [10, 20, 30]
    (s,) = claim(conn, "f")
    assert s.input == {"run": [1, 2, 3], "m": [10, 20, 30]}


def test_dependent_map_is_sized_by_single_parent_output(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "m", "deps": ["a"], "step_type": "map"}])
    run_id = start(conn, "f")
    (a,) = claim(conn, "f")
    complete(conn, a, ["x", "y"])
    assert step_state(conn, run_id, "m")["initial_tasks"] == 2
    assert [t.input for t in claim(conn, "f")] == ["x", "y"]


def test_map_over_map_gets_parent_task_outputs(conn: Conn) -> None:
    add_flow(
        conn,
        "f",
        [{"slug": "m", "step_type": "map"}, {"slug": "n", "deps": ["m"], "step_type": "map"}],
    )
    run_id = start(conn, "f", [1, 2])
    for task in claim(conn, "f"):
        complete(conn, task, task.input + 100)
    assert [t.input for t in claim(conn, "f")] == [101, 102]
    assert step_state(conn, run_id, "n")["initial_tasks"] == 2


def test_empty_array_output_completes_dependent_map_without_tasks(conn: Conn) -> None:
    add_flow(
        conn,
        "f",
        [
            {"slug": "a"},
            {"slug": "m", "deps": ["a"], "step_type": "map"},
            {"slug": "n", "deps": ["m"], "step_type": "map"},
        ],
    )
    run_id = start(conn, "f")
    (a,) = claim(conn, "f")
    complete(conn, a, [])
    run = run_row(conn, run_id)
    assert (run["status"], run["output"]) == ("completed", {"n": []})
    assert rows(conn, "select step_slug from pgflow.step_tasks") == [{"step_slug": "a"}]
