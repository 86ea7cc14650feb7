"""Outputs are stored as given: 0, false, "", null and nested values stay what they are."""

import pytest

from ..helpers import Conn, add_flow, claim, complete, run_row, start, step_state


@pytest.mark.parametrize("output", [0, False, "", None, [], {}, [None, 0, False], {"a": None}])
def test_output_round_trips(conn: Conn, output: object) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    run_id = start(conn, "f")
    (task,) = claim(conn, "f")
    complete(conn, task, output)
    assert step_state(conn, run_id, "a")["output"] == output
    assert run_row(conn, run_id)["output"] == {"a": output}


def test_null_output_is_json_null_in_dependent_input(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b", "deps": ["a"]}])
    start(conn, "f")
    (task,) = claim(conn, "f")
    complete(conn, task, None)
    (b,) = claim(conn, "f")
    assert b.input == {"run": {}, "a": None}
