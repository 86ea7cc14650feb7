"""cancel_run ends a run: nothing more starts and in-flight results are ignored."""

import uuid

import psycopg
import pytest

from ..helpers import Conn, add_flow, claim, complete, rows, run_row, start, task_statuses


def test_cancels_run_and_open_tasks(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b"}, {"slug": "c", "deps": ["a"]}])
    run_id = start(conn, "f")
    (a,) = claim(conn, "f", qty=1)
    (row,) = rows(conn, "select status, cancelled_at from pgflow.cancel_run(%s)", (run_id,))
    assert row["status"] == "cancelled" and row["cancelled_at"] is not None
    assert task_statuses(conn, run_id) == {("a", 0): "cancelled", ("b", 0): "cancelled"}
    assert rows(conn, "select * from pgmq.q_f") == []
    assert complete(conn, a, "late") == "cancelled"
    assert claim(conn, "f") == []
    assert run_row(conn, run_id)["status"] == "cancelled"


def test_finished_run_is_left_alone(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    run_id = start(conn, "f")
    (a,) = claim(conn, "f")
    complete(conn, a, 1)
    (row,) = rows(conn, "select status from pgflow.cancel_run(%s)", (run_id,))
    assert row["status"] == "completed"


def test_unknown_run_raises(conn: Conn) -> None:
    run_id = uuid.UUID(int=1)
    with pytest.raises(psycopg.errors.RaiseException) as err:
        conn.execute("select pgflow.cancel_run(%s)", (run_id,))
    assert err.value.diag.message_primary == f'Run "{run_id}" does not exist'
