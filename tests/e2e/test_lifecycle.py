"""Worker processes starting, stopping, dying and sharing queues."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import psycopg

from pgflow_yaml.client import Client

from .conftest import FLOWS, StartWorker, executions, wait_until, worker_command


def test_sigterm_lets_in_flight_tasks_finish_then_exits_zero(
    start_worker: StartWorker, client: Client
) -> None:
    worker = start_worker(extra=("--flow", "e2e_sleep"))
    run_ids = [client.start("e2e_sleep", {"sleep": 1.5, "n": i}) for i in range(3)]
    wait_until(lambda: len(worker.events("task_started")) == 3, what="3 tasks started")
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0
    assert len(worker.events("task_completed")) == 3
    assert worker.events("worker_stopped")[0]["completed"] == 3
    for run_id in run_ids:  # the dependent steps are queued for the next worker
        assert {s.step_slug: s.status for s in client.get(run_id).steps}["slow"] == "completed"


def test_sigterm_releases_tasks_past_the_grace_period_to_another_worker(
    start_worker: StartWorker, client: Client, dsn: str
) -> None:
    first = start_worker(extra=("--flow", "e2e_sleep", "--grace-period", "0.2"))
    run_id = client.start("e2e_sleep", {"sleep": 4})
    first.wait_for("task_started")
    first.signal(signal.SIGTERM)
    assert first.wait(20) == 0
    assert first.wait_for("tasks_released")["released"] == 1
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "select status, attempts_count, released_count from pgflow.step_tasks"
            " where run_id = %s",
            (run_id,),
        ).fetchone()
    assert row == ("queued", 1, 1)  # handed back: the start is counted, but not as an attempt
    start_worker(extra=("--flow", "e2e_sleep"))
    run = client.wait(run_id, 30)
    assert run.status == "completed"


def test_a_second_signal_exits_at_once(start_worker: StartWorker, client: Client) -> None:
    worker = start_worker(extra=("--flow", "e2e_sleep", "--grace-period", "30"))
    client.start("e2e_sleep", {"sleep": 20})
    worker.wait_for("task_started")
    worker.signal(signal.SIGINT)
    worker.wait_for("draining")
    worker.signal(signal.SIGINT)
    assert worker.wait(5) == 1
    assert worker.events("worker_killed")


def test_a_killed_worker_s_task_is_requeued_and_finished_by_another(
    start_worker: StartWorker, client: Client, record_file: Path
) -> None:
    victim = start_worker(extra=("--flow", "e2e_stall"))
    run_id = client.start("e2e_stall", {"sleep": 2})
    wait_until(lambda: executions(record_file), what="the slow handler to start")
    victim.signal(signal.SIGKILL)
    victim.wait(10)
    assert {s.step_slug: s.status for s in client.get(run_id).steps}["slow"] == "started"
    survivor = start_worker(extra=("--flow", "e2e_stall"))
    run = client.wait(run_id, 30)
    assert run.status == "completed"
    assert survivor.events("stalled_requeued")
    slow_runs = [e for e in executions(record_file) if e[0] == run_id and e[1] == "slow"]
    assert [e[3] for e in slow_runs] == [1, 2]  # attempt 1 died with its worker


def test_two_workers_sharing_a_queue_never_run_a_task_twice(
    start_worker: StartWorker, client: Client, record_file: Path
) -> None:
    workers = [start_worker(extra=("--flow", "e2e_chain", "--concurrency", "4")) for _ in range(2)]
    run_ids = client.start_many("e2e_chain", [{"i": i} for i in range(150)])
    for run_id in run_ids:
        assert client.wait(run_id, 60).status == "completed"
    done = executions(record_file)
    counts = Counter((run_id, step, index) for run_id, step, index, _, _ in done)
    assert len(counts) == 150 * 3
    assert set(counts.values()) == {1}
    by_worker = Counter(worker_id for *_, worker_id in done)
    assert len(by_worker) == 2, f"one worker did everything: {by_worker}"
    for worker in workers:
        assert worker.proc.poll() is None


def test_bad_handler_paths_stop_the_worker_before_it_claims_listing_each(
    dsn: str, tmp_path: Path
) -> None:
    flow = tmp_path / "broken.yaml"
    flow.write_text(
        "slug: broken\nsteps:\n"
        "  - slug: a\n    handler: no_such_module:run\n"
        "  - slug: b\n    handler: e2e_steps:no_such_function\n    depends_on: [a]\n"
    )
    (tmp_path / "e2e_steps.py").write_text((FLOWS / "e2e_steps.py").read_text())
    result = subprocess.run(
        worker_command(flow, dsn=dsn), capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 1
    assert "2 handler(s) cannot be imported" in result.stderr
    assert "no_such_module:run" in result.stderr
    assert "e2e_steps:no_such_function" in result.stderr
    assert "Traceback" not in result.stderr
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select count(*) from pgflow.workers").fetchone() == (0,)


def test_a_different_shape_in_the_database_stops_the_worker_naming_the_difference(
    dsn: str, tmp_path: Path
) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select pgflow.create_flow('e2e_chain')")
        conn.execute("select pgflow.add_step('e2e_chain', 'a')")
        conn.execute("select pgflow.add_step('e2e_chain', 'c', array['a'])")
    argv = worker_command(FLOWS / "e2e_chain.yaml", dsn=dsn)
    argv.remove("--apply")
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1
    assert "flow 'e2e_chain'" in result.stderr and "differs from the database" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_flow_without_apply_is_a_clear_error(dsn: str, tmp_path: Path) -> None:
    argv = worker_command(FLOWS / "e2e_chain.yaml", dsn=dsn)
    argv.remove("--apply")
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1
    assert "flow 'e2e_chain' is not in the database" in result.stderr
    assert "--apply" in result.stderr


def test_the_worker_runs_as_a_module_too() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pgflow_yaml", "run-worker", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "--concurrency" in result.stdout
