"""Signal map steps: one signal per element, by task index; the step completes with them all."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from ..helpers import Conn, add_flow, claim, complete, dump, one, run_row, start, step_state


def _flow(conn: Conn) -> None:
    add_flow(
        conn,
        "f",
        [
            {"slug": "items"},
            {"slug": "confirm", "deps": ["items"], "step_type": "map", "signal_schema": True},
            {"slug": "total", "deps": ["confirm"]},
        ],
    )


def _signal(conn: Conn, run_id: uuid.UUID, index: int, payload: object) -> str:
    query = "select pgflow.signal(%s, 'confirm', %s::jsonb, %s)"
    outcome: str = one(conn, query, (run_id, dump(payload), index))
    return outcome


def _items_done(conn: Conn, items: list[str]) -> uuid.UUID:
    run_id = start(conn, "f")
    (task,) = claim(conn, "f")
    complete(conn, task, items)
    return run_id


def test_each_element_gets_its_signal_and_the_last_completes_the_step(conn: Conn) -> None:
    _flow(conn)
    run_id = _items_done(conn, ["a", "b", "c"])
    state = step_state(conn, run_id, "confirm")
    assert (state["status"], state["initial_tasks"], state["remaining_tasks"]) == (
        "waiting",
        3,
        3,
    )
    assert _signal(conn, run_id, 2, "C") == "pending"
    assert _signal(conn, run_id, 0, "A") == "pending"
    assert step_state(conn, run_id, "confirm")["remaining_tasks"] == 1
    with pytest.raises(psycopg.Error) as err:
        _signal(conn, run_id, 0, "again")
    assert err.value.diag.message_primary == (
        f'Step "confirm" of run "{run_id}" already has a signal for task 0'
    )
    assert _signal(conn, run_id, 1, "B") == "completed"
    assert step_state(conn, run_id, "confirm")["output"] == ["A", "B", "C"]
    (total,) = claim(conn, "f")
    assert total.input == {"run": {}, "confirm": ["A", "B", "C"]}
    assert one(conn, "select count(*) from pgflow.pending_signals") == 0


def test_a_task_index_outside_the_map_is_refused(conn: Conn) -> None:
    _flow(conn)
    run_id = _items_done(conn, ["a", "b"])
    for index in (2, -1):
        with pytest.raises(psycopg.Error) as err:
            _signal(conn, run_id, index, "x")
        assert err.value.diag.message_primary == (
            f'task_index of map step "confirm" must be between 0 and 1 (got {index})'
        )


def test_early_signals_of_a_map_count_when_it_becomes_ready(conn: Conn) -> None:
    _flow(conn)
    run_id = start(conn, "f")
    assert _signal(conn, run_id, 1, "B") == "pending"
    (task,) = claim(conn, "f")
    complete(conn, task, ["a", "b"])
    state = step_state(conn, run_id, "confirm")
    assert (state["status"], state["remaining_tasks"]) == ("waiting", 1)
    assert _signal(conn, run_id, 0, "A") == "completed"
    assert step_state(conn, run_id, "confirm")["output"] == ["A", "B"]


def test_all_early_signals_complete_the_map_without_waiting(conn: Conn) -> None:
    _flow(conn)
    run_id = start(conn, "f")
    assert _signal(conn, run_id, 0, "A") == "pending"
    assert _signal(conn, run_id, 1, "B") == "pending"
    (task,) = claim(conn, "f")
    complete(conn, task, ["a", "b"])
    assert step_state(conn, run_id, "confirm")["output"] == ["A", "B"]
    (total,) = claim(conn, "f")
    complete(conn, total, 2)
    assert run_row(conn, run_id)["status"] == "completed"


def test_an_empty_map_completes_with_no_signal(conn: Conn) -> None:
    _flow(conn)
    run_id = _items_done(conn, [])
    state = step_state(conn, run_id, "confirm")
    assert (state["status"], state["output"]) == ("completed", [])
