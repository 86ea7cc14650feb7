"""``Client.why``, ``AsyncClient.why``, ``pgflow why`` and ``pgflow start --priority``."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from pgflow_yaml import AsyncClient, Client, RunNotFound
from pgflow_yaml.cli import app

Conn = psycopg.Connection[Any]


def _define(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('shop')")
    conn.execute(
        "select pgflow.add_step('shop', 'fetch', concurrency_limit => 1,"
        " concurrency_key => 'run.customer')"
    )
    conn.execute("select pgflow.add_step('shop', 'charge', array['fetch'])")


def test_why_says_what_holds_each_step(conn: Conn, dsn: str) -> None:
    _define(conn)
    with Client(dsn) as client:
        waiting = client.start("shop", {"customer": "acme"})
        # the later start's priority takes the customer's one slot first
        holder = client.start("shop", {"customer": "acme"}, priority=5)
        conn.execute("select * from pgflow.claim_tasks(array['shop'], gen_random_uuid(), 10, 60)")
        reasons = client.why(waiting)
        assert [(r.step_slug, r.task_index, r.reason) for r in reasons] == [
            ("fetch", 0, "concurrency_full"),
            ("charge", None, "waiting_for_dependencies"),
        ]
        assert reasons[0].describe() == (
            f'step concurrency full for key "acme": 1 of 1 in flight (runs {holder})'
        )
        assert reasons[1].describe() == "waiting for fetch"
        with pytest.raises(RunNotFound):
            client.why(uuid.uuid4())

    async def from_async() -> list[str]:
        async with AsyncClient(dsn) as client:
            return [r.reason for r in await client.why(waiting)]

    assert asyncio.run(from_async()) == ["concurrency_full", "waiting_for_dependencies"]
    priority = conn.execute("select priority from pgflow.runs where run_id = %s", (holder,))
    assert priority.fetchone() == (5,)


def test_pgflow_why_prints_a_table_or_json(conn: Conn, dsn: str) -> None:
    _define(conn)
    runner = CliRunner()
    started = runner.invoke(
        app, ["start", "shop", "--input", '{"customer": "x"}', "--priority", "3", "--dsn", dsn]
    )
    assert started.exit_code == 0, started.output
    run_id = started.stdout.strip()
    table = runner.invoke(app, ["why", run_id, "--dsn", dsn], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "waiting_for_worker" in table.stdout
    assert "no live worker serves the flow" in table.stdout
    assert "waiting for fetch" in table.stdout
    rows = json.loads(runner.invoke(app, ["why", run_id, "--dsn", dsn, "--json"]).stdout)
    assert [(r["step_slug"], r["reason"]) for r in rows] == [
        ("fetch", "waiting_for_worker"),
        ("charge", "waiting_for_dependencies"),
    ]
    assert rows[0]["detail"] == {"ahead": 0, "live_workers": 0}
    missing = runner.invoke(app, ["why", str(uuid.uuid4()), "--dsn", dsn])
    assert missing.exit_code == 1


def test_pgflow_why_of_a_run_queued_behind_its_flows_concurrency(conn: Conn, dsn: str) -> None:
    conn.execute("select pgflow.create_flow('sync', concurrency_limit => 1)")
    conn.execute("select pgflow.add_step('sync', 'pull')")
    conn.execute("select pgflow.add_step('sync', 'push', array['pull'])")
    runner = CliRunner()
    ids = []
    for _ in range(3):
        started = runner.invoke(app, ["start", "sync", "--input", "{}", "--dsn", dsn])
        assert started.exit_code == 0, started.output
        ids.append(started.stdout.strip())
    holder, _, last = ids
    table = runner.invoke(app, ["why", last, "--dsn", dsn], env={"COLUMNS": "250"})
    assert table.exit_code == 0, table.output
    sentence = (
        f"run queued behind the flow's concurrency limit: position 2 (runs holding the slots:"
        f" {holder})"
    )
    lines = [line for line in table.stdout.splitlines() if "run_queued" in line]
    assert [line.split()[0] for line in lines] == ["pull", "push"]
    assert all(sentence in line for line in lines), table.stdout
    rows = json.loads(runner.invoke(app, ["why", last, "--dsn", dsn, "--json"]).stdout)
    assert [(r["step_slug"], r["task_index"], r["reason"], r["until"]) for r in rows] == [
        ("pull", None, "run_queued", None),
        ("push", None, "run_queued", None),
    ]
    assert rows[0]["detail"] == {"position": 2, "holding_runs": [holder]}
    with Client(dsn) as client:
        assert [r.reason for r in client.why(holder)] == [
            "waiting_for_worker",
            "waiting_for_dependencies",
        ]


def test_why_of_a_subflow_step_names_its_child_run_and_its_timeout(conn: Conn, dsn: str) -> None:
    conn.execute("select pgflow.create_flow('child')")
    conn.execute("select pgflow.add_step('child', 'work')")
    conn.execute("select pgflow.create_flow('parent', max_attempts => 2)")
    conn.execute(
        "select pgflow.add_step('parent', 'sub', child_flow_slug => 'child', timeout => 30)"
    )
    conn.execute("select pgflow.create_flow('untimed')")
    conn.execute("select pgflow.add_step('untimed', 'sub', child_flow_slug => 'child')")
    with Client(dsn) as client:
        run_id = client.start("parent", {})
        (child,) = client.children(run_id)
        (reason,) = client.why(run_id)
        assert (reason.step_slug, reason.task_index, reason.reason) == (
            "sub",
            0,
            "waiting_for_child_run",
        )
        assert reason.detail == {
            "child_run_id": child.run_id,
            "child_flow": "child",
            "child_status": "started",
            "attempt": 1,
        }
        started_at = conn.execute(
            "select started_at from pgflow.step_tasks where run_id = %s", (run_id,)
        ).fetchone()
        assert started_at is not None and reason.until is not None
        assert (reason.until - started_at[0]).total_seconds() == 30
        assert reason.describe() == (
            f"waiting for child run {child.run_id} of flow child (started, attempt 1),"
            f" times out at {reason.until:%Y-%m-%d %H:%M:%S%z}"
        )
        # over its timeout: the child is cancelled and the task waits out its retry delay
        conn.execute(
            "update pgflow.step_tasks set started_at = started_at - interval '31 seconds'"
            " where run_id = %s",
            (run_id,),
        )
        conn.execute("select pgflow.start_due_subflows()")
        (reason,) = client.why(run_id)
        assert reason.reason == "retry_backoff" and reason.until is not None
        assert reason.detail == {
            "attempt": 1,
            "error_message": f'Child run {child.run_id} of flow "child" timed out after 30 s',
        }
        # without a timeout of its own, nothing bounds the wait
        (untimed,) = client.why(client.start("untimed", {}))
        assert untimed.reason == "waiting_for_child_run" and untimed.until is None
        assert untimed.describe().endswith("(started, attempt 1)")
