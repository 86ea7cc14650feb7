"""start_flows sizes each run's root map by its own input; one bad input rejects the batch."""

import psycopg
import pytest

from ..helpers import Conn, add_flow, queue_depth, rows, run_row, step_state
from .calls import counts, queued_messages, start_flows


def test_names_the_first_input_that_is_not_an_array(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}])
    with pytest.raises(psycopg.errors.RaiseException) as err:
        start_flows(conn, "f", [[1], {"not": "an array"}, 7])
    assert err.value.diag.message_primary == (
        "Flow f has root map steps but input is not an array (got object)"
    )
    assert err.value.diag.message_detail == "inputs[1]"


def test_a_json_null_input_is_not_an_array(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}])
    with pytest.raises(psycopg.errors.RaiseException) as err:
        start_flows(conn, "f", [[1], [2], None])
    assert err.value.diag.message_primary == (
        "Flow f has root map steps but input is not an array (got null)"
    )
    assert err.value.diag.message_detail == "inputs[2]"


def test_one_bad_input_creates_nothing(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}])
    with pytest.raises(psycopg.errors.RaiseException):
        start_flows(conn, "f", [[1, 2], [3], "oops"])
    assert counts(conn) == {"runs": 0, "step_states": 0, "step_tasks": 0}
    assert queue_depth(conn, "f") == 0


def test_a_single_bad_input_has_no_detail(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}])
    with pytest.raises(psycopg.errors.RaiseException) as err:
        start_flows(conn, "f", [{"not": "an array"}])
    assert err.value.diag.message_primary == (
        "Flow f has root map steps but input is not an array (got object)"
    )
    assert err.value.diag.message_detail is None


def test_start_flow_errors_have_no_detail(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}])
    with pytest.raises(psycopg.errors.RaiseException) as err:
        conn.execute("select pgflow.start_flow('f', null)")
    assert err.value.diag.message_primary == "Flow f has root map steps but input is NULL"
    assert err.value.diag.message_detail is None


def test_empty_input_completes_its_run_while_the_others_get_tasks(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}])
    first, empty, last = start_flows(conn, "f", [[1, 2], [], [3]])
    assert (empty["status"], empty["output"], empty["remaining_steps"]) == (
        "completed",
        {"m": []},
        0,
    )
    assert [(r["status"], r["remaining_steps"]) for r in (first, last)] == [
        ("started", 1),
        ("started", 1),
    ]
    assert step_state(conn, empty["run_id"], "m")["status"] == "completed"
    assert [step_state(conn, r["run_id"], "m")["initial_tasks"] for r in (first, empty, last)] == [
        2,
        0,
        1,
    ]
    assert rows(conn, "select * from pgflow.step_tasks where run_id = %s", (empty["run_id"],)) == []
    assert run_row(conn, empty["run_id"])["status"] == "completed"
    assert queued_messages(conn, "f") == [
        (str(first["run_id"]), "m", 0),
        (str(first["run_id"]), "m", 1),
        (str(last["run_id"]), "m", 0),
    ]
