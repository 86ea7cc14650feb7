"""A single step's input is {"run": <run input>, "<dep>": <output>} (the pgflow 0.8.1 shape)."""

from ..helpers import Conn, add_flow, claim, complete, start


def test_root_step_gets_the_run_input_under_run(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    start(conn, "f", {"x": 1})
    (task,) = claim(conn, "f")
    assert task.input == {"run": {"x": 1}}


def test_dependent_step_gets_each_dependency_output(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b"}, {"slug": "c", "deps": ["a", "b"]}])
    start(conn, "f", {"x": 1})
    for task in claim(conn, "f"):
        complete(conn, task, {"from": task.step_slug})
    (task,) = claim(conn, "f")
    assert task.input == {"run": {"x": 1}, "a": {"from": "a"}, "b": {"from": "b"}}
