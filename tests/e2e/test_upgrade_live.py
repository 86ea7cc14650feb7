"""An upgrade of the core while a worker runs: its calls wait for the upgrade, then go on.

``pgflow install`` upgrades in one transaction: migrations (DDL, which takes ``ACCESS
EXCLUSIVE`` locks on the tables it changes), then every function file again
(``core.reapplied_sql``). This test plays that transaction (the locks of a migration on the
run tables, then the real re-applied function files) while a worker holds started tasks, lets
the handlers finish during it, and checks that the worker's reports and claims waited for the
commit instead of failing, and that every task ran exactly once (docs/deploying.md).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import psycopg

from pgflow_yaml import core
from pgflow_yaml.client import Client

from .conftest import StartWorker, executions, wait_until

RUNS = 6


def test_worker_waits_for_an_upgrade_transaction_and_goes_on(
    dsn: str, start_worker: StartWorker, client: Client, record_file: Path, tmp_path: Path
) -> None:
    worker = start_worker(extra=("--flow", "e2e_sleep", "--concurrency", "3"))
    marker = tmp_path / "open"
    run_ids = client.start_many("e2e_sleep", [{"until": str(marker)} for _ in range(RUNS)])
    wait_until(lambda: len(executions(record_file)) >= 3, what="three started tasks")

    with psycopg.connect(dsn) as upgrade, psycopg.connect(dsn, autocommit=True) as watch:
        upgrade.execute(
            "lock table pgflow.runs, pgflow.step_states, pgflow.step_tasks in access exclusive mode"
        )
        upgrade.execute(core.reapplied_sql())
        marker.touch()  # the handlers return now; their results meet the upgrade's locks

        def worker_waiting() -> bool:
            row = watch.execute(
                "select count(*) from pg_stat_activity where datname = current_database()"
                " and application_name like 'pgflow-worker:%' and wait_event_type = 'Lock'"
            ).fetchone()
            return bool(row and row[0])

        wait_until(worker_waiting, what="a worker call waiting for the upgrade's locks")
        time.sleep(0.5)  # let the other calls of the worker run into the locks too
        upgrade.commit()

    runs = [client.wait(run_id, 60) for run_id in run_ids]
    assert {run.status for run in runs} == {"completed"}, worker.log_tail()
    done = Counter((run_id, step) for run_id, step, _, _, _ in executions(record_file))
    assert set(done) == {(str(r), s) for r in run_ids for s in ("slow", "after")}
    assert set(done.values()) == {1}
    for action in ("claim_failed", "report_failed", "report_refused", "housekeeping_failed"):
        assert worker.events(action) == [], worker.log_tail()
