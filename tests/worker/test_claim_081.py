"""Claiming on the published pgflow 0.8.1 core returns every task it starts.

0.8.1 never requeues a ``started`` task, so a task that a claim starts but does not hand to the
worker stays ``started`` for good and its run never ends (a ``WaitTimeout`` in
tests/e2e/test_pgflow081.py, once in a while on a loaded machine).
"""

from __future__ import annotations

import asyncio

import psycopg

from pgflow_yaml.worker import protocol
from pgflow_yaml.worker.store import Link

WORKER_ID = "00000000-0000-0000-0000-000000000081"


async def _until_waiting_on_a_lock(dsn: str, application_name: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        for _ in range(2000):
            cur = await conn.execute(
                "select count(*) from pg_stat_activity where datname = current_database()"
                " and application_name = %s and wait_event_type = 'Lock'",
                (application_name,),
            )
            row = await cur.fetchone()
            if row and row[0]:
                return
            await asyncio.sleep(0.01)
    raise AssertionError(f"{application_name} never waited on the queue lock")


async def _claim_while_a_run_starts(dsn: str) -> tuple[list[dict[str, object]], list[tuple]]:
    """Start a run while a claim is under way: after the claim began, before it read the queue.

    The claim is held at the queue (its table is locked) until the run's task and message are
    committed, which is what a commit landing in the middle of a claim looks like.
    """
    proto = protocol.Pgflow081Protocol(WORKER_ID, ["race_081"], 5)
    link = Link(dsn, "claim")
    try:
        async with await psycopg.AsyncConnection.connect(dsn) as starter:
            await starter.execute("lock table pgmq.q_race_081 in exclusive mode")
            claim = asyncio.create_task(proto.claim(link, 10))
            await _until_waiting_on_a_lock(dsn, "pgflow-worker:claim")
            await starter.execute("select pgflow.start_flow('race_081', '{}'::jsonb)")
            await starter.commit()
            rows = await claim
    finally:
        await link.close()
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute(
            "select step_slug, task_index, status, attempts_count from pgflow.step_tasks"
        )
        tasks = await cur.fetchall()
    return rows, tasks


def test_a_task_committed_while_a_claim_runs_is_returned_by_the_claim_that_starts_it(
    pgflow081_dsn: str,
) -> None:
    with psycopg.connect(pgflow081_dsn, autocommit=True) as conn:
        conn.execute("select pgflow.create_flow('race_081')")
        conn.execute("select pgflow.add_step('race_081', 'only')")
        conn.execute(
            "insert into pgflow.workers (worker_id, queue_name, function_name)"
            " values (%s, 'race_081', 'test')",
            (WORKER_ID,),
        )
    rows, tasks = asyncio.run(_claim_while_a_run_starts(pgflow081_dsn))
    assert tasks == [("only", 0, "started", 1)]  # the claim started it...
    assert [(r["step_slug"], r["task_index"], r["attempt"]) for r in rows] == [
        ("only", 0, 1)
    ]  # ...so it must hand it to the worker: nobody else ever will on 0.8.1
