"""Differential test of the Realtime events: the scenarios of test_differential_081.py, driven by
the pgflow 0.8.1 worker protocol, make our core send the same ``realtime.send`` calls (event
names, payloads, topics, private flag, order per run) as the real pgflow 0.8.1 core.

Both databases get a ``realtime.send`` that records its calls. The batch test drives our core
through the set-based paths (``start_flows``, ``complete_tasks``, ``fail_tasks``) and pgflow 0.8.1
through the same calls one by one: each run's events must still be those 0.8.1 sends.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.compat.pgflow081 import create_database, drop_database
from tests.compat.protocol081 import (
    Definition,
    Handler,
    HandlerFailed,
    Worker081,
    define_flow,
    play_run,
)
from tests.compat.realtime import Event, install_recorder, sent_events
from tests.compat.test_differential_081 import SCENARIOS


def _database(server_url: str, name: str, template: str) -> str:
    dsn = create_database(server_url, name, template=template)
    with psycopg.connect(dsn, autocommit=True) as conn:
        install_recorder(conn)
    return dsn


@pytest.fixture(scope="module")
def ours_dsn(pg_server_url: str, template_db: str) -> Iterator[str]:
    """Return one database with our core and a recording realtime.send."""
    name = f"pgflow_rt_ours_{os.getpid()}"
    yield _database(pg_server_url, name, template_db)
    drop_database(pg_server_url, name)


@pytest.fixture(scope="module")
def theirs_dsn(pg_server_url: str, pgflow081_template: str) -> Iterator[str]:
    """Return one database with the pgflow 0.8.1 core and a recording realtime.send."""
    name = f"pgflow_rt_081_{os.getpid()}"
    yield _database(pg_server_url, name, pgflow081_template)
    drop_database(pg_server_url, name)


def _renamed(definition: Definition, suffix: str) -> Definition:
    return [(fn, {**args, "flow_slug": args["flow_slug"] + suffix}) for fn, args in definition]


def _play_one(
    dsn: str, definition: Definition, run_input: Any, handlers: dict[str, Handler]
) -> list[Event]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        run_id, _ = play_run(conn, definition, run_input, handlers)
        return sent_events(conn, run_id)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_events_match_pgflow_081(name: str, ours_dsn: str, theirs_dsn: str) -> None:
    definition, run_input, handlers = SCENARIOS[name]
    ours = _play_one(ours_dsn, definition, run_input, handlers)
    theirs = _play_one(theirs_dsn, definition, run_input, handlers)
    assert ours == theirs
    assert ours[0][0] == "run:started"
    assert {"run:completed", "run:failed"} & {event for event, *_ in ours}


def _play_batched(
    dsn: str,
    definition: Definition,
    inputs: list[Any],
    handlers: dict[str, Handler],
    *,
    batched: bool,
) -> list[list[Event]]:
    """Start one run per input and drain them round by round; return each run's events.

    Each round claims every visible task, runs the handlers in (run, step, task) order and
    reports the failures then the completions: with ``batched``, in one ``fail_tasks`` and one
    ``complete_tasks`` call (runs started with one ``start_flows``); otherwise one call each.
    """
    flow_slug = definition[0][1]["flow_slug"]
    run_ids = [uuid.uuid4() for _ in inputs]
    attempts: dict[tuple[uuid.UUID, str, int], int] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        define_flow(conn, definition)
        worker = Worker081(conn, flow_slug)
        worker.register()
        if batched:
            conn.execute(
                "select pgflow.start_flows(%s, %s::jsonb, %s::uuid[])",
                (flow_slug, Jsonb(inputs), run_ids),
            )
        else:
            for run_id, run_input in zip(run_ids, inputs, strict=True):
                conn.execute(
                    "select pgflow.start_flow(flow_slug => %s, input => %s::jsonb, run_id => %s)",
                    (flow_slug, Jsonb(run_input), run_id),
                )
        for _ in range(100):
            started = conn.execute(
                "select count(*) from pgflow.runs where run_id = any(%s) and status = 'started'",
                (run_ids,),
            ).fetchone()
            if not started or started[0] == 0:
                break
            tasks = sorted(worker.claim(qty=100), key=lambda t: (run_ids.index(t[0]), t[1], t[2]))
            failures: list[dict[str, Any]] = []
            completions: list[dict[str, Any]] = []
            for run_id, step_slug, task_index, task_input in tasks:
                key = (run_id, step_slug, task_index)
                attempts[key] = attempts.get(key, 0) + 1
                item = {"run_id": str(run_id), "step_slug": step_slug, "task_index": task_index}
                try:
                    output = handlers[step_slug](task_input, attempts[key])
                except HandlerFailed as exc:
                    failures.append({**item, "error_message": str(exc)})
                    continue
                completions.append({**item, "output": output})
            if batched:
                if failures:
                    conn.execute("select pgflow.fail_tasks(%s::jsonb)", (Jsonb(failures),))
                if completions:
                    conn.execute("select pgflow.complete_tasks(%s::jsonb)", (Jsonb(completions),))
                continue
            for f in failures:
                conn.execute(
                    "select pgflow.fail_task(%s::uuid, %s, %s, %s)",
                    (f["run_id"], f["step_slug"], f["task_index"], f["error_message"]),
                )
            for c in completions:
                conn.execute(
                    "select pgflow.complete_task(%s::uuid, %s, %s, %s::jsonb)",
                    (c["run_id"], c["step_slug"], c["task_index"], Jsonb(c["output"])),
                )
        return [sent_events(conn, run_id) for run_id in run_ids]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_batched_calls_send_each_runs_081_events(name: str, ours_dsn: str, theirs_dsn: str) -> None:
    definition, run_input, handlers = SCENARIOS[name]
    definition = _renamed(definition, "_b")
    inputs = [run_input] * 3
    ours = _play_batched(ours_dsn, definition, inputs, handlers, batched=True)
    theirs = _play_batched(theirs_dsn, definition, inputs, handlers, batched=False)
    assert ours == theirs
    assert all(events and events[0][0] == "run:started" for events in ours)
