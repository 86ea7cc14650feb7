"""Small SQL helpers shared by the SQL core tests.

Each helper runs one statement of the public API (or reads a table) on an autocommit
connection, so a test reads as the sequence of calls a worker or client would make.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

Conn = psycopg.Connection[Any]

WORKER_ID = uuid.UUID("00000000-0000-0000-0000-0000000000aa")


@dataclass(frozen=True)
class Task:
    """A task handed out by ``claim_tasks``."""

    flow_slug: str
    run_id: uuid.UUID
    step_slug: str
    task_index: int
    msg_id: int
    attempt: int
    timeout: int
    input: Any
    start_seq: int


def dump(value: Any) -> str:
    """Return ``value`` as JSON text for a ``%s::jsonb`` parameter."""
    return json.dumps(value)


def one(conn: Conn, query: str, params: tuple[Any, ...] = ()) -> Any:
    """Return the first column of the first row of ``query``."""
    row = conn.execute(query, params).fetchone()
    assert row is not None, f"no row from {query!r}"
    return row[0]


def rows(conn: Conn, query: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Return every row of ``query`` as dicts."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall()


def add_flow(
    conn: Conn,
    slug: str,
    steps: list[dict[str, Any]],
    **flow_options: Any,
) -> None:
    """Create a flow and its steps; each step is the keyword arguments of ``add_step``."""
    names = ", ".join(f"{k} => %s" for k in flow_options)
    conn.execute(
        f"select pgflow.create_flow(%s{', ' + names if names else ''})",
        (slug, *flow_options.values()),
    )
    for step in steps:
        step = dict(step)
        step_slug = step.pop("slug")
        deps = step.pop("deps", [])
        args = []
        values: list[Any] = []
        for key, value in step.items():
            if key in ("required_input_pattern", "forbidden_input_pattern", "signal_schema"):
                args.append(f"{key} => %s::jsonb")
                values.append(dump(value))
            else:
                args.append(f"{key} => %s")
                values.append(value)
        extra = "".join(", " + a for a in args)
        conn.execute(
            f"select pgflow.add_step(%s, %s, %s::text[]{extra})",
            (slug, step_slug, deps, *values),
        )


def start(conn: Conn, flow_slug: str, input_: Any = None) -> uuid.UUID:
    """Start a run of ``flow_slug`` with ``input_`` (JSON) and return its id."""
    run_id: uuid.UUID = one(
        conn,
        "select run_id from pgflow.start_flow(%s, %s::jsonb)",
        (flow_slug, dump(input_ if input_ is not None else {})),
    )
    return run_id


def register_worker(conn: Conn, flow_slug: str, worker_id: uuid.UUID = WORKER_ID) -> uuid.UUID:
    """Register a worker in ``pgflow.workers``, as a worker does at start."""
    conn.execute(
        "insert into pgflow.workers (worker_id, queue_name, function_name)"
        " values (%s, %s, 'tests') on conflict do nothing",
        (worker_id, flow_slug),
    )
    return worker_id


def claim(
    conn: Conn, flow_slugs: list[str] | str, qty: int = 10, worker_id: uuid.UUID = WORKER_ID
) -> list[Task]:
    """Claim up to ``qty`` tasks with ``claim_tasks``."""
    slugs = [flow_slugs] if isinstance(flow_slugs, str) else flow_slugs
    result = conn.execute(
        "select flow_slug, run_id, step_slug, task_index, msg_id, attempt, timeout, input,"
        " start_seq from pgflow.claim_tasks(%s, %s, %s)",
        (slugs, worker_id, qty),
    ).fetchall()
    return [Task(*row) for row in result]


def complete(conn: Conn, task: Task, output: Any, *, fenced: bool = True) -> str | None:
    """Complete ``task`` with ``output``; return the task status complete_task reports."""
    status: str | None = None
    row = conn.execute(
        "select status from pgflow.complete_task(%s, %s, %s, %s::jsonb, %s)",
        (
            task.run_id,
            task.step_slug,
            task.task_index,
            dump(output),
            task.attempt if fenced else None,
        ),
    ).fetchone()
    if row is not None:
        status = row[0]
    return status


def fail(
    conn: Conn,
    task: Task,
    message: str = "boom",
    *,
    retryable: bool = True,
    error_type: str | None = None,
) -> str | None:
    """Fail ``task``; return the task status fail_task reports."""
    row = conn.execute(
        "select status from pgflow.fail_task(%s, %s, %s, %s, attempt => %s,"
        " error_type => %s, retryable => %s)",
        (
            task.run_id,
            task.step_slug,
            task.task_index,
            message,
            task.attempt,
            error_type,
            retryable,
        ),
    ).fetchone()
    return None if row is None else str(row[0])


def run_row(conn: Conn, run_id: uuid.UUID) -> dict[str, Any]:
    """Return the run's row."""
    (row,) = rows(conn, "select * from pgflow.runs where run_id = %s", (run_id,))
    return row


def step_state(conn: Conn, run_id: uuid.UUID, step_slug: str) -> dict[str, Any]:
    """Return one step state row."""
    (row,) = rows(
        conn,
        "select * from pgflow.step_states where run_id = %s and step_slug = %s",
        (run_id, step_slug),
    )
    return row


def step_statuses(conn: Conn, run_id: uuid.UUID) -> dict[str, str]:
    """Return ``{step_slug: status}`` for a run."""
    return {
        r["step_slug"]: r["status"]
        for r in rows(
            conn, "select step_slug, status from pgflow.step_states where run_id = %s", (run_id,)
        )
    }


def task_statuses(conn: Conn, run_id: uuid.UUID) -> dict[tuple[str, int], str]:
    """Return ``{(step_slug, task_index): status}`` for a run."""
    return {
        (r["step_slug"], r["task_index"]): r["status"]
        for r in rows(
            conn,
            "select step_slug, task_index, status from pgflow.step_tasks where run_id = %s",
            (run_id,),
        )
    }


def queue_depth(conn: Conn, flow_slug: str) -> int:
    """Return how many messages (visible or not) the flow's queue holds."""
    depth: int = one(conn, "select queue_length from pgmq.metrics(%s)", (flow_slug,))
    return depth


def archived_count(conn: Conn, flow_slug: str) -> int:
    """Return how many messages the flow's queue archive holds."""
    table = one(conn, "select pgmq.format_table_name(%s, 'a')", (flow_slug,))
    count: int = one(conn, f'select count(*) from pgmq."{table}"')
    return count


def make_visible(conn: Conn, flow_slug: str) -> None:
    """Make every message of the flow's queue visible now (skips delays and backoff)."""
    table = one(conn, "select pgmq.format_table_name(%s, 'q')", (flow_slug,))
    conn.execute(f'update pgmq."{table}" set vt = clock_timestamp()')


def age_started_tasks(conn: Conn, run_id: uuid.UUID, seconds: int) -> None:
    """Pretend the run's started tasks started ``seconds`` ago (stalled-task tests)."""
    conn.execute(
        "update pgflow.step_tasks set started_at = started_at - make_interval(secs => %s)"
        " where run_id = %s and status = 'started'",
        (seconds, run_id),
    )
