"""A worker that loses its database keeps its results, reconnects and carries on."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgflow_yaml import core
from pgflow_yaml.client import Client

from .conftest import REPO, StartWorker, WorkerProcess, executions


def test_cut_connections_are_reopened_and_no_result_is_lost(
    start_worker: StartWorker, client: Client, dsn: str, record_file: Path
) -> None:
    worker = start_worker(extra=("--flow", "e2e_sleep"))
    run_id = client.start("e2e_sleep", {"sleep": 1})
    worker.wait_for("task_started", run_id=run_id)
    with psycopg.connect(dsn, autocommit=True) as conn:
        cut = conn.execute(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity"
            " where datname = current_database() and application_name like 'pgflow-worker:%'"
        ).fetchone()
    assert cut is not None and cut[0] >= 3  # claim, housekeeping, listen (+ report)
    run = client.wait(run_id, 30)
    assert run.status == "completed"
    assert worker.events("reconnected")
    assert [e[3] for e in executions(record_file) if e[1] == "slow"] == [1]


@pytest.fixture
def private_server() -> Iterator[tuple[Path, str]]:
    """Start an embedded PostgreSQL of our own (so that restarting it disturbs nobody)."""
    from pgflow_yaml import embedded

    data_dir = REPO / ".pgflow" / f"e2e-restart-{os.getpid()}"
    shutil.rmtree(data_dir, ignore_errors=True)
    embedded.start(data_dir)
    url = embedded.server_url(data_dir)
    with psycopg.connect(url, autocommit=True) as conn:
        core.install(conn)
    yield data_dir, url
    embedded.stop(data_dir, force=True)
    shutil.rmtree(data_dir, ignore_errors=True)


def test_the_database_restarted_under_a_running_worker(
    private_server: tuple[Path, str], start_worker: StartWorker, record_file: Path, tmp_path: Path
) -> None:
    from pgflow_yaml import embedded

    data_dir, url = private_server
    down = tmp_path / "server-down"  # the handler returns once the server is down
    worker: WorkerProcess = start_worker(extra=("--flow", "e2e_sleep", "--dsn", url))
    with Client(url) as client:
        run_id = client.start("e2e_sleep", {"until": str(down)})
    worker.wait_for("task_started", run_id=run_id)
    embedded.stop(data_dir, force=True)
    down.touch()
    worker.wait_for("task_completed", run_id=run_id)  # finished while the server was down
    embedded.start(data_dir)
    with Client(embedded.server_url(data_dir)) as client:
        run = client.wait(run_id, 60)
        assert run.status == "completed"
        given = {"until": str(down)}
        assert run.output == {"after": {"run": given, "slow": given}}
        later = client.wait(client.start("e2e_sleep", {"sleep": 0}), 30)
        assert later.status == "completed"
    assert worker.events("reconnected")
    waited = worker.events("report_deferred") + [
        e for e in worker.events("reconnect_failed") if e["link"].startswith("report")
    ]
    assert waited  # the result waited in memory for the server
    assert [e[3] for e in executions(record_file) if e[0] == run_id and e[1] == "slow"] == [1]


def test_a_worker_whose_database_is_gone_backs_off_and_stops_on_sigterm(
    private_server: tuple[Path, str], start_worker: StartWorker, tmp_path: Path
) -> None:
    """Regression: with the server gone, each link's backoff grows instead of resetting at
    attempt 1, and SIGTERM ends the worker at once (no reconnect wait holds it up); a result it
    could not report is logged and left to the core's timeout requeue."""
    from pgflow_yaml import embedded

    data_dir, url = private_server
    down = tmp_path / "server-down"  # the handler returns once the server is down
    worker: WorkerProcess = start_worker(extra=("--flow", "e2e_sleep", "--dsn", url))
    with Client(url) as client:
        run_id = client.start("e2e_sleep", {"until": str(down)})
    worker.wait_for("task_started", run_id=run_id)
    embedded.stop(data_dir, force=True)
    down.touch()
    worker.wait_for("task_completed", run_id=run_id)  # its result cannot be reported now
    time.sleep(3)
    failed = worker.events("reconnect_failed")
    links = {e["link"] for e in failed}
    assert {"claim", "listen"} <= links, worker.log_tail()
    for link in links:  # a busy loop logged thousands of lines, all with attempt=1
        attempts = [e["attempt"] for e in failed if e["link"] == link]
        assert attempts == list(range(1, len(attempts) + 1)), (link, attempts)
        assert len(attempts) <= 10, (link, attempts)
    assert len(failed) < 40

    worker.signal(signal.SIGTERM)
    started = time.monotonic()
    try:
        code = worker.wait(8)
    except subprocess.TimeoutExpired:
        raise AssertionError("the worker ignored SIGTERM:\n" + worker.log_tail()) from None
    assert code == 0
    assert time.monotonic() - started < 8
    assert worker.events("worker_stopped")
    assert len(worker.events("reconnect_failed")) < len(failed) + 10  # no retry loop on the way out
    abandoned = worker.events("report_abandoned")
    assert abandoned and abandoned[0]["pending"] == 1
    assert abandoned[0]["tasks"][0]["run_id"] == run_id
