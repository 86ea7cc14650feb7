"""start_flow creates the run, one state per step, and queues the root steps' tasks."""

import uuid

import psycopg
import pytest

from ..helpers import Conn, add_flow, queue_depth, rows, run_row, start, step_statuses


def test_creates_states_and_root_tasks(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b"}, {"slug": "c", "deps": ["a", "b"]}])
    run_id = start(conn, "f", {"x": 1})
    run = run_row(conn, run_id)
    assert (run["status"], run["remaining_steps"], run["input"]) == ("started", 3, {"x": 1})
    assert step_statuses(conn, run_id) == {"a": "started", "b": "started", "c": "created"}
    assert rows(
        conn,
        "select step_slug, task_index, status from pgflow.step_tasks order by step_slug",
    ) == [
        {"step_slug": "a", "task_index": 0, "status": "queued"},
        {"step_slug": "b", "task_index": 0, "status": "queued"},
    ]
    assert queue_depth(conn, "f") == 2


def test_message_names_the_task(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    run_id = start(conn, "f")
    (msg,) = rows(conn, "select message from pgmq.q_f")
    assert msg["message"] == {
        "flow_slug": "f",
        "run_id": str(run_id),
        "step_slug": "a",
        "task_index": 0,
    }


def test_uses_the_given_run_id(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    run_id = uuid.uuid4()
    (row,) = rows(conn, "select run_id from pgflow.start_flow('f', '{}', %s)", (run_id,))
    assert row["run_id"] == run_id


def test_rejects_unknown_flow(conn: Conn) -> None:
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as err:
        start(conn, "nope")
    assert err.value.diag.message_primary == 'Flow "nope" does not exist'
    assert err.value.diag.constraint_name == "runs_flow_slug_fkey"


def test_flow_without_steps_completes_at_once(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('empty')")
    run = run_row(conn, start(conn, "empty"))
    assert (run["status"], run["output"]) == ("completed", None)


def test_rejects_a_run_id_already_used(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    run_id = uuid.uuid4()
    conn.execute("select pgflow.start_flow('f', '{}', %s)", (run_id,))
    with pytest.raises(psycopg.errors.UniqueViolation) as err:
        conn.execute("select pgflow.start_flow('f', '{}', %s)", (run_id,))
    assert err.value.diag.constraint_name == "runs_pkey"


def test_generated_run_ids_sort_by_creation(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    run_ids = [start(conn, "f") for _ in range(5)]
    stamps = [r.hex[:12] for r in run_ids]  # the 48-bit millisecond timestamp
    assert stamps == sorted(stamps)
    assert {r.version for r in run_ids} == {7}
