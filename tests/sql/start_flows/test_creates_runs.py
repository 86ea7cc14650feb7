"""start_flows starts one run per input, in input order, with the ids it is given."""

import uuid

import psycopg
import pytest

from ..helpers import Conn, add_flow, queue_depth, rows, start, step_statuses
from .calls import counts, start_flows


def test_returns_one_started_run_per_input_in_input_order(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b", "deps": ["a"]}])
    runs = start_flows(conn, "f", [{"n": 1}, {"n": 2}, {"n": 3}])
    assert [(r["flow_slug"], r["status"], r["input"], r["remaining_steps"]) for r in runs] == [
        ("f", "started", {"n": 1}, 2),
        ("f", "started", {"n": 2}, 2),
        ("f", "started", {"n": 3}, 2),
    ]
    stored = rows(conn, "select run_id, input from pgflow.runs order by input ->> 'n'")
    assert [r["run_id"] for r in stored] == [r["run_id"] for r in runs]
    assert [step_statuses(conn, r["run_id"]) for r in runs] == [
        {"a": "started", "b": "created"}
    ] * 3
    assert queue_depth(conn, "f") == 3


def test_uses_the_given_run_ids_in_input_order(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    run_ids: list[uuid.UUID | None] = [
        uuid.UUID("ffffffff-0000-4000-8000-000000000002"),
        uuid.UUID("00000000-0000-4000-8000-000000000001"),
    ]
    runs = start_flows(conn, "f", [{"n": 0}, {"n": 1}], run_ids)
    assert [(r["run_id"], r["input"]) for r in runs] == [
        (run_ids[0], {"n": 0}),
        (run_ids[1], {"n": 1}),
    ]


def test_a_null_run_id_gets_a_fresh_time_ordered_id(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    given = uuid.UUID("00000000-0000-4000-8000-000000000001")
    first, second = start_flows(conn, "f", [{"n": 0}, {"n": 1}], [None, given])
    assert second["run_id"] == given
    assert first["run_id"] not in (None, given)
    assert first["run_id"].version == 7
    assert first["input"] == {"n": 0}
    assert rows(conn, "select count(*) as n from pgflow.runs") == [{"n": 2}]


def test_empty_array_returns_no_rows_and_creates_nothing(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    assert start_flows(conn, "f", []) == []
    assert counts(conn) == {"runs": 0, "step_states": 0, "step_tasks": 0}
    assert queue_depth(conn, "f") == 0


def test_rejects_unknown_flow(conn: Conn) -> None:
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as err:
        start_flows(conn, "nope", [{}, {}])
    assert err.value.diag.message_primary == 'Flow "nope" does not exist'
    assert err.value.diag.constraint_name == "runs_flow_slug_fkey"


def test_rejects_unknown_flow_even_without_inputs(conn: Conn) -> None:
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as err:
        start_flows(conn, "nope", [])
    assert err.value.diag.message_primary == 'Flow "nope" does not exist'


def test_a_run_id_already_used_rejects_the_whole_batch(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    used = start(conn, "f", {"n": "first"})
    with pytest.raises(psycopg.errors.UniqueViolation) as err:
        start_flows(conn, "f", [{"n": 0}, {"n": 1}, {"n": 2}], [uuid.uuid4(), used, None])
    assert err.value.diag.constraint_name == "runs_pkey"
    assert rows(conn, "select run_id, input from pgflow.runs") == [
        {"run_id": used, "input": {"n": "first"}}
    ]
    assert counts(conn) == {"runs": 1, "step_states": 1, "step_tasks": 1}
    assert queue_depth(conn, "f") == 1
