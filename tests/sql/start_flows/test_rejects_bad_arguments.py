"""start_flows checks its arguments before it creates anything."""

import uuid

import psycopg
import pytest

from ..helpers import Conn, add_flow, queue_depth
from .calls import counts, start_flows


@pytest.mark.parametrize(
    ("inputs", "kind"), [({"n": 1}, "object"), ("[]", "string"), (None, "null")]
)
def test_rejects_inputs_that_are_not_a_json_array(conn: Conn, inputs: object, kind: str) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    with pytest.raises(psycopg.errors.RaiseException) as err:
        start_flows(conn, "f", inputs)
    assert err.value.diag.message_primary == (
        f"start_flows expects a JSON array of inputs, got {kind}"
    )
    assert counts(conn)["runs"] == 0


def test_rejects_sql_null_inputs(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    with pytest.raises(psycopg.errors.RaiseException) as err:
        conn.execute("select * from pgflow.start_flows('f', null)")
    assert err.value.diag.message_primary == "start_flows expects a JSON array of inputs, got null"


@pytest.mark.parametrize(("given", "expected"), [(1, 2), (3, 2), (0, 2)])
def test_rejects_run_ids_of_another_length(conn: Conn, given: int, expected: int) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    run_ids: list[uuid.UUID | None] = [uuid.uuid4() for _ in range(given)]
    with pytest.raises(psycopg.errors.RaiseException) as err:
        start_flows(conn, "f", [{}] * expected, run_ids)
    assert err.value.diag.message_primary == (
        f"start_flows got {expected} inputs but {given} run ids"
    )
    assert counts(conn) == {"runs": 0, "step_states": 0, "step_tasks": 0}
    assert queue_depth(conn, "f") == 0
