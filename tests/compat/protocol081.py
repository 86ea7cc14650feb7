"""A worker speaking exactly the pgflow 0.8.1 protocol, and a snapshot of what a run left behind.

The call sequence is the reference worker's: register in ``pgflow.workers``, then
``pgmq.read_with_poll`` → ``pgflow.start_tasks`` → ``pgflow.complete_task`` or
``pgflow.fail_task``, each in its own transaction. Running the same scenario against our core
and against the real 0.8.1 core and comparing ``run_snapshot`` of both is the differential test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

Handler = Callable[[Any, int], Any]  # (task input, attempt number from 1) -> output; raise = fail


class HandlerFailed(Exception):
    """Raised by a scenario handler to make the driver call ``fail_task``."""


@dataclass
class Worker081:
    """A single-flow worker using the 0.8.1 SQL calls only."""

    conn: psycopg.Connection[Any]
    flow_slug: str
    worker_id: uuid.UUID = field(default_factory=uuid.uuid4)
    seen: list[tuple[str, int, Any]] = field(default_factory=list)
    attempts: dict[tuple[str, str, int], int] = field(default_factory=dict)

    def register(self) -> None:
        """Insert this worker into ``pgflow.workers`` as the 0.8.1 worker does at startup."""
        self.conn.execute(
            "insert into pgflow.workers (queue_name, worker_id, function_name) values (%s, %s, %s)",
            (self.flow_slug, self.worker_id, "compat-driver"),
        )

    def claim(self, qty: int = 10, vt: int = 5, max_poll_seconds: int = 1) -> list[Any]:
        """Read up to ``qty`` messages with ``read_with_poll`` and start their tasks."""
        msgs = self.conn.execute(
            "select msg_id from pgmq.read_with_poll(queue_name => %s, vt => %s, qty => %s,"
            " max_poll_seconds => %s, poll_interval_ms => %s)",
            (self.flow_slug, vt, qty, max_poll_seconds, 50),
        ).fetchall()
        if not msgs:
            return []
        return self.conn.execute(
            "select run_id, step_slug, task_index, input from pgflow.start_tasks("
            "flow_slug => %s, msg_ids => %s::bigint[], worker_id => %s::uuid)",
            (self.flow_slug, [m[0] for m in msgs], self.worker_id),
        ).fetchall()

    def run_task(self, task: Any, handlers: dict[str, Handler]) -> None:
        """Run the step's handler and report with ``complete_task`` or ``fail_task``."""
        run_id, step_slug, task_index, task_input = task
        key = (str(run_id), step_slug, task_index)
        attempt = self.attempts.get(key, 0) + 1
        self.attempts[key] = attempt
        self.seen.append((step_slug, task_index, task_input))
        try:
            output = handlers[step_slug](task_input, attempt)
        except HandlerFailed as exc:
            self.conn.execute(
                "select pgflow.fail_task(run_id => %s, step_slug => %s, task_index => %s,"
                " error_message => %s)",
                (run_id, step_slug, task_index, str(exc)),
            )
            return
        self.conn.execute(
            "select pgflow.complete_task(run_id => %s, step_slug => %s, task_index => %s,"
            " output => %s::jsonb)",
            (run_id, step_slug, task_index, Jsonb(output)),
        )

    def drain(self, run_id: uuid.UUID, handlers: dict[str, Handler], max_rounds: int = 200) -> None:
        """Claim and run tasks until the run is no longer ``started`` (or nothing comes)."""
        idle = 0
        for _ in range(max_rounds):
            status = self.conn.execute(
                "select status from pgflow.runs where run_id = %s", (run_id,)
            ).fetchone()
            if status is None or status[0] != "started":
                return
            tasks = self.claim()
            if not tasks:
                idle += 1
                if idle >= 3:
                    return
                continue
            idle = 0
            for task in sorted(tasks, key=lambda t: (t[1], t[2])):
                self.run_task(task, handlers)


Definition = list[tuple[str, dict[str, Any]]]  # (create_flow | add_step, named arguments)


def define_flow(conn: psycopg.Connection[Any], statements: Definition) -> None:
    """Run ``pgflow.create_flow``/``pgflow.add_step`` calls given as (function, named args)."""
    for function, args in statements:
        if function not in {"create_flow", "add_step"}:
            raise ValueError(f"not a definition function: {function}")
        named = ", ".join(f"{name} => %({name})s" for name in args)
        conn.execute(f"select pgflow.{function}({named})", args)


_STEP_COLUMNS = ("status", "remaining_tasks", "remaining_deps", "initial_tasks", "error_message")
_TASK_COLUMNS = ("status", "attempts_count", "output", "error_message")


def run_snapshot(conn: psycopg.Connection[Any], run_id: uuid.UUID) -> dict[str, Any]:
    """Return the run, its step states and tasks, keeping the columns both cores have."""
    run = conn.execute(
        "select status, output, remaining_steps from pgflow.runs where run_id = %s", (run_id,)
    ).fetchone()
    assert run is not None, f"run {run_id} not found"
    step_cols = _existing(conn, "step_states", _STEP_COLUMNS)
    task_cols = _existing(conn, "step_tasks", _TASK_COLUMNS)
    steps = conn.execute(
        f"select step_slug, {', '.join(step_cols)} from pgflow.step_states"
        " where run_id = %s order by step_slug",
        (run_id,),
    ).fetchall()
    tasks = conn.execute(
        f"select step_slug, task_index, {', '.join(task_cols)} from pgflow.step_tasks"
        " where run_id = %s order by step_slug, task_index",
        (run_id,),
    ).fetchall()
    return {
        "run": dict(zip(("status", "output", "remaining_steps"), run, strict=True)),
        "steps": {s[0]: dict(zip(step_cols, s[1:], strict=True)) for s in steps},
        "tasks": {(t[0], t[1]): dict(zip(task_cols, t[2:], strict=True)) for t in tasks},
        "columns": (step_cols, task_cols),
    }


def _existing(conn: psycopg.Connection[Any], table: str, wanted: tuple[str, ...]) -> list[str]:
    rows = conn.execute(
        "select column_name from information_schema.columns"
        " where table_schema = 'pgflow' and table_name = %s",
        (table,),
    ).fetchall()
    have = {r[0] for r in rows}
    return [c for c in wanted if c in have]


def common(ours: dict[str, Any], theirs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Restrict two snapshots to the step and task columns that both cores have."""
    step_cols = [c for c in ours["columns"][0] if c in theirs["columns"][0]]
    task_cols = [c for c in ours["columns"][1] if c in theirs["columns"][1]]

    def cut(snap: dict[str, Any]) -> dict[str, Any]:
        return {
            "run": snap["run"],
            "steps": {k: {c: v[c] for c in step_cols} for k, v in snap["steps"].items()},
            "tasks": {k: {c: v[c] for c in task_cols} for k, v in snap["tasks"].items()},
        }

    return cut(ours), cut(theirs)


def play_run(
    conn: psycopg.Connection[Any],
    definition: Definition,
    run_input: Any,
    handlers: dict[str, Handler],
) -> tuple[uuid.UUID, Worker081]:
    """Define the flow, start one run and drain it with a 0.8.1 worker; return the run id and
    the worker (whose ``seen`` lists the handler calls)."""
    flow_slug = definition[0][1]["flow_slug"]
    define_flow(conn, definition)
    worker = Worker081(conn, flow_slug)
    worker.register()
    run_id = uuid.uuid4()
    conn.execute(
        "select * from pgflow.start_flow(flow_slug => %s, input => %s::jsonb, run_id => %s)",
        (flow_slug, Jsonb(run_input), run_id),
    )
    worker.drain(run_id, handlers)
    return run_id, worker


def play(
    dsn: str, definition: Definition, run_input: Any, handlers: dict[str, Handler]
) -> tuple[dict[str, Any], list[tuple[str, int, Any]]]:
    """Define the flow, start one run, drain it with a 0.8.1 worker; return what it left.

    Returns the run's snapshot and the (step, task index, input) of every handler call, sorted.
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        run_id, worker = play_run(conn, definition, run_input, handlers)
        return run_snapshot(conn, run_id), sorted(worker.seen, key=lambda s: (s[0], s[1]))
