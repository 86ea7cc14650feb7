"""Flow control with real workers: limits hold exactly across worker processes, slots come back.

Four worker processes at concurrency 20 each serve a flow whose steps have a keyed concurrency
limit, a plain one and a rate limit. A separate connection samples the started tasks every few
milliseconds and never sees a group above its limit; the starts of the rate-limited step never
exceed the rate in any window; every run completes (a drain of 2,000 runs with
PGFLOW_SLOW=1, 600 otherwise).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg

from pgflow_yaml.client import Client

from .conftest import StartWorker, wait_until

FLOWS = Path(__file__).parent / "flow_control"
RUNS = 2000 if os.environ.get("PGFLOW_SLOW") == "1" else 600
CUSTOMERS = 7

_SAMPLE = """
select flow_slug, step_slug, coalesce(fc_key, '') as key, count(*) as n
from pgflow.step_tasks
where flow_slug in ('e2e_fc_limits', 'e2e_fc_keyed') and status = 'started'
group by 1, 2, 3
"""


class Sampler(threading.Thread):
    """Read the started tasks per step and key every few milliseconds; keep the maxima."""

    def __init__(self, dsn: str) -> None:
        super().__init__(daemon=True)
        self.dsn = dsn
        self.stop = threading.Event()
        self.most: Counter[tuple[str, str, str]] = Counter()
        self.samples = 0

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                for flow, step, key, n in conn.execute(_SAMPLE).fetchall():
                    self.most[(flow, step, key)] = max(self.most[(flow, step, key)], n)
                self.samples += 1
                time.sleep(0.003)


def _most_starts_in_a_window(starts: list[float], per: float) -> int:
    starts.sort()
    most, first = 0, 0
    for last, moment in enumerate(starts):
        while moment - starts[first] >= per:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_limits_hold_exactly_under_four_workers(
    dsn: str, client: Client, start_worker: StartWorker
) -> None:
    for _ in range(4):
        start_worker(FLOWS, extra=("--concurrency", "20"))
    sampler = Sampler(dsn)
    sampler.start()
    try:
        run_ids = client.start_many(
            "e2e_fc_limits", [{"customer": f"c{i % CUSTOMERS}"} for i in range(RUNS)]
        )
        # a flow with no rate limit: its limited tasks are started by _start_picked
        run_ids += client.start_many(
            "e2e_fc_keyed", [{"customer": f"c{i % CUSTOMERS}"} for i in range(RUNS // 2)]
        )

        def finished() -> bool:
            return all(s in ("completed", "failed", "cancelled") for s in _statuses(dsn, run_ids))

        wait_until(finished, timeout=360, what=f"{len(run_ids)} runs to finish")
    finally:
        sampler.stop.set()
        sampler.join(5)

    assert set(_statuses(dsn, run_ids)) == {"completed"}
    assert sampler.samples > 50
    for flow in ("e2e_fc_limits", "e2e_fc_keyed"):
        fetch = {k: n for (f, step, k), n in sampler.most.items() if (f, step) == (flow, "fetch")}
        charge = [n for (f, step, _), n in sampler.most.items() if (f, step) == (flow, "charge")]
        assert len(fetch) == CUSTOMERS and max(fetch.values()) <= 3, (flow, fetch)
        assert charge and max(charge) <= 4, (flow, charge)
        # limits bind: some customer did have all three slots in use at once
        assert max(fetch.values()) == 3, flow
    with psycopg.connect(dsn) as conn:
        starts = [
            row[0]
            for row in conn.execute(
                "select extract(epoch from started_at)::float8 from pgflow.step_tasks"
                " where flow_slug = 'e2e_fc_limits' and step_slug = 'notify'"
            ).fetchall()
        ]
        record = conn.execute(
            "select count(*) from pgflow.step_tasks where flow_slug = 'e2e_fc_limits'"
            " and step_slug = 'record' and status = 'completed'"
        ).fetchone()[0]
        attempts = conn.execute(
            "select max(attempts_count), sum(requeued_count) from pgflow.step_tasks"
            " where flow_slug in ('e2e_fc_limits', 'e2e_fc_keyed')"
        ).fetchone()
    assert len(starts) == RUNS
    # the step with no limit (claimed apart from the limited groups) ran once per run too
    assert record == RUNS
    assert _most_starts_in_a_window(starts, 1.0) <= 40
    # held-back tasks never used an attempt nor counted as stalled
    assert attempts == (1, 0)


def _statuses(dsn: str, run_ids: list[str]) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [
            row[0]
            for row in conn.execute(
                "select status from pgflow.runs where run_id = any(%s::uuid[])", (run_ids,)
            ).fetchall()
        ]


def test_a_killed_workers_slot_comes_back_after_the_requeue(
    dsn: str, client: Client, start_worker: StartWorker
) -> None:
    doomed = start_worker(FLOWS / "e2e_fc_kill.yaml")
    first = client.start("e2e_fc_kill", {})
    second = client.start("e2e_fc_kill", {})

    def started() -> Any:
        with psycopg.connect(dsn) as conn:
            return conn.execute(
                "select run_id from pgflow.step_tasks where flow_slug = 'e2e_fc_kill'"
                " and status = 'started'"
            ).fetchone()

    holder = wait_until(started, what="the first task to start")[0]
    doomed.signal(signal.SIGKILL)
    doomed.wait(10)
    reasons = {r.reason for run in (first, second) for r in client.why(run)}
    assert reasons == {"running", "concurrency_full"}
    start_worker(FLOWS / "e2e_fc_kill.yaml")
    for run_id in (first, second):
        assert client.wait(run_id, 60).status == "completed"
    with psycopg.connect(dsn) as conn:
        requeued = conn.execute(
            "select requeued_count from pgflow.step_tasks where run_id = %s", (holder,)
        ).fetchone()
    assert requeued == (1,)
