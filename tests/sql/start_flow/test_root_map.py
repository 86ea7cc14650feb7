"""start_flow sizes a root map by its array input, and completes empty maps without tasks."""

import psycopg
import pytest

from ..helpers import Conn, add_flow, queue_depth, rows, run_row, start, step_state


def test_root_map_gets_one_task_per_element(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}])
    run_id = start(conn, "f", [10, 20, 30])
    assert step_state(conn, run_id, "m")["initial_tasks"] == 3
    assert rows(conn, "select task_index from pgflow.step_tasks order by 1") == [
        {"task_index": 0},
        {"task_index": 1},
        {"task_index": 2},
    ]
    assert queue_depth(conn, "f") == 3


def test_root_map_rejects_non_array_input(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}])
    with pytest.raises(psycopg.errors.RaiseException) as err:
        start(conn, "f", {"not": "an array"})
    assert err.value.diag.message_primary == (
        "Flow f has root map steps but input is not an array (got object)"
    )
    assert rows(conn, "select * from pgflow.runs") == []


def test_root_map_rejects_null_input(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}])
    with pytest.raises(psycopg.errors.RaiseException) as err:
        conn.execute("select pgflow.start_flow('f', null)")
    assert err.value.diag.message_primary == "Flow f has root map steps but input is NULL"


def test_empty_root_map_cascades_to_dependent_map_and_completes_run(conn: Conn) -> None:
    add_flow(
        conn,
        "f",
        [{"slug": "m", "step_type": "map"}, {"slug": "n", "deps": ["m"], "step_type": "map"}],
    )
    run_id = start(conn, "f", [])
    run = run_row(conn, run_id)
    assert (run["status"], run["output"]) == ("completed", {"n": []})
    assert step_state(conn, run_id, "m")["output"] == []
    assert rows(conn, "select * from pgflow.step_tasks") == []
