"""A worker stopped while the database refuses its reports lists every unreported task."""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path

import psycopg

from pgflow_yaml.client import Client

from .conftest import StartWorker, wait_until

FLOW = """\
slug: held
timeout: 60
steps:
  - slug: work
    handler: held_steps:work
    map: $input
"""

HANDLERS = '''\
import time
from pathlib import Path


def work(release):
    """Return once the file named by the input exists."""
    while not Path(release).exists():
        time.sleep(0.02)
    return release
'''


def test_results_the_database_never_took_are_listed_when_the_worker_stops(
    start_worker: StartWorker, client: Client, dsn: str, tmp_path: Path
) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "held.yaml").write_text(FLOW)
    (flows / "held_steps.py").write_text(textwrap.dedent(HANDLERS))
    release = tmp_path / "release"
    worker = start_worker(flows, extra=("--grace-period", "1"))
    run_id = client.start("held", [str(release)] * 3)
    for index in range(3):
        worker.wait_for("task_started", run_id=run_id, task_index=index)
    with psycopg.connect(dsn) as holder:  # a transaction holding the tasks' rows
        locked = holder.execute(
            "select task_index from pgflow.step_tasks where run_id = %s for update", (run_id,)
        ).fetchall()
        assert len(locked) == 3
        release.touch()
        for index in range(3):
            worker.wait_for("task_completed", run_id=run_id, task_index=index)
        with psycopg.connect(dsn, autocommit=True) as watcher:
            waiting = (
                "select count(*) > 0 from pg_stat_activity where datname = current_database()"
                " and application_name like 'pgflow-worker:report-%' and wait_event_type = 'Lock'"
            )
            wait_until(
                lambda: watcher.execute(waiting).fetchone() == (True,),
                what="a report waiting for the held rows",
            )
        worker.signal(signal.SIGTERM)
        assert worker.wait(60) == 0
        holder.rollback()
    [abandoned] = worker.events("report_abandoned")
    assert abandoned["pending"] == 3
    assert sorted(abandoned["tasks"], key=lambda t: t["task_index"]) == [
        {
            "flow_slug": "held",
            "run_id": run_id,
            "step_slug": "work",
            "task_index": index,
            "attempt": 1,
        }
        for index in range(3)
    ]
