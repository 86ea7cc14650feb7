"""A worker with two claim connections: claims overlap, every task runs once (real PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import psycopg

from pgflow_yaml.client import Client
from pgflow_yaml.worker.service import WorkerThread, make_worker, prepare

FLOW = """slug: overlapping
timeout: 10
steps:
  - slug: each
    handler: overlapping_steps:double
    map: $input
  - slug: total
    handler: overlapping_steps:total
    depends_on: [each]
"""

STEPS = """
def double(x):
    return 2 * x

def total(input):
    return sum(input["each"])
"""


def test_two_claim_connections_run_every_task_once(dsn: str, tmp_path: Path) -> None:
    (tmp_path / "overlapping.yaml").write_text(FLOW)
    (tmp_path / "overlapping_steps.py").write_text(STEPS)
    flows, handlers = prepare([tmp_path / "overlapping.yaml"], dsn, apply=True)
    # claims of 2 tasks at most: with 4 slots, a second claim goes out while the first is away
    worker = make_worker(
        dsn, handlers, flows, concurrency=4, batch_size=2, claim_connections=2, grace_period=2
    )
    thread = WorkerThread(worker)
    thread.start()
    try:
        with Client(dsn) as client:
            run_ids = [client.start("overlapping", list(range(30))) for _ in range(4)]
            runs = [client.wait(run_id, timeout=60) for run_id in run_ids]
        with psycopg.connect(dsn) as conn:
            links = conn.execute(
                "select count(*) from pg_stat_activity"
                " where datname = current_database() and application_name = 'pgflow-worker:claim-1'"
            ).fetchone()
            attempts = conn.execute(
                "select attempts_count, count(*) from pgflow.step_tasks group by attempts_count"
            ).fetchall()
    finally:
        thread.stop(timeout=10)
    assert thread.error is None
    assert [(r.status, r.output) for r in runs] == [("completed", {"total": 870})] * 4
    assert links == (1,)
    assert attempts == [(1, 4 * 31)]
