"""Helpers of the tests that act as a role: expect a refusal, start a run, serve a flow as 0.8.1."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb


def denied(conn: psycopg.Connection[Any], query: str, params: Any = None) -> str:
    """Run ``query``, expecting permission denied; return the first line of the message."""
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
        conn.execute(query, params)
    return str(caught.value).splitlines()[0]


def all_denied(conn: psycopg.Connection[Any], cases: list[tuple[str, str]]) -> None:
    """Check each (what the refusal names, query) pair: the query fails, naming it."""
    for names, query in cases:
        message = denied(conn, query)
        assert names in message, f"{query}: {message}"


def start_run(dsn: str, flow: str, run_input: str = "{}") -> uuid.UUID:
    """Start a run of ``flow`` as the installing role; return its id."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "select run_id from pgflow.start_flow(%s, %s::jsonb)", (flow, run_input)
        ).fetchone()
    assert row is not None
    run_id: uuid.UUID = row[0]
    return run_id


def _step_status(dsn: str, run_id: uuid.UUID, step: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "select status from pgflow.step_states where run_id = %s and step_slug = %s",
            (run_id, step),
        ).fetchone()
    assert row is not None
    status: str = row[0]
    return status


def run_081_protocol(worker: psycopg.Connection[Any], dsn: str, flow: str, step: str) -> None:
    """As a pgflow 0.8.1 worker on ``flow`` (root step ``step``): register, heartbeat,
    read_with_poll, set_vt, start_tasks, complete_task; then read and archive a second
    run's message (its step stays started)."""
    run_id = start_run(dsn, flow)
    wid = uuid.uuid4()
    worker.execute(
        "insert into pgflow.workers (queue_name, worker_id, function_name) values (%s, %s, 't')",
        (flow, wid),
    )
    beat = worker.execute(
        "update pgflow.workers set last_heartbeat_at = clock_timestamp() where worker_id = %s"
        " returning deprecated_at is not null",
        (wid,),
    ).fetchone()
    assert beat == (False,)
    msgs = worker.execute(
        "select msg_id from pgmq.read_with_poll(%s, 5, 10, 1, 50)", (flow,)
    ).fetchall()
    assert len(msgs) == 1
    worker.execute("select pgmq.set_vt(%s, %s, 30)", (flow, msgs[0][0]))
    tasks = worker.execute(
        "select run_id, step_slug, task_index from pgflow.start_tasks(%s, %s, %s)",
        (flow, [msgs[0][0]], wid),
    ).fetchall()
    assert tasks == [(run_id, step, 0)]
    worker.execute("select pgflow.complete_task(%s, %s, 0, %s)", (run_id, step, Jsonb({"ok": 1})))
    assert _step_status(dsn, run_id, step) == "completed"
    spare = start_run(dsn, flow)
    msg = worker.execute("select msg_id from pgmq.read(%s, 5, 1)", (flow,)).fetchone()
    assert msg is not None
    assert worker.execute("select pgmq.archive(%s, %s)", (flow, msg[0])).fetchone() == (True,)
    assert _step_status(dsn, spare, step) == "started"
