"""A worker that loses its database keeps its results, reconnects and carries on."""

from __future__ import annotations

import os
import shutil
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
    private_server: tuple[Path, str], start_worker: StartWorker, record_file: Path
) -> None:
    from pgflow_yaml import embedded

    data_dir, url = private_server
    worker: WorkerProcess = start_worker(extra=("--flow", "e2e_sleep", "--dsn", url))
    with Client(url) as client:
        run_id = client.start("e2e_sleep", {"sleep": 1.5})
    worker.wait_for("task_started", run_id=run_id)
    embedded.stop(data_dir, force=True)
    worker.wait_for("task_completed", run_id=run_id)  # finished while the server was down
    embedded.start(data_dir)
    with Client(embedded.server_url(data_dir)) as client:
        run = client.wait(run_id, 60)
        assert run.status == "completed"
        assert run.output == {"after": {"run": {"sleep": 1.5}, "slow": {"sleep": 1.5}}}
        later = client.wait(client.start("e2e_sleep", {"sleep": 0}), 30)
        assert later.status == "completed"
    assert worker.events("reconnected")
    waited = worker.events("report_deferred") + [
        e for e in worker.events("reconnect_failed") if e["link"].startswith("report")
    ]
    assert waited  # the result waited in memory for the server
    assert [e[3] for e in executions(record_file) if e[0] == run_id and e[1] == "slow"] == [1]
