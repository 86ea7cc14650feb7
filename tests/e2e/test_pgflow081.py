"""The worker serves a database holding the published pgflow 0.8.1 core."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from pgflow_yaml.client import Client, Run
from pgflow_yaml.errors import WaitTimeout

from .conftest import EXAMPLES, FLOWS, WorkerProcess, worker_command


def run_state_081(dsn: str, run_id: str) -> str:
    """Describe a run on a 0.8.1 core: its steps, its tasks and their queue messages."""
    lines = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        run = conn.execute(
            "select flow_slug, status, remaining_steps from pgflow.runs where run_id = %s",
            (run_id,),
        ).fetchone()
        if run is None:
            return f"run {run_id}: not found"
        flow_slug = run[0]
        lines.append(f"run {run_id}: flow={run[0]} status={run[1]} remaining_steps={run[2]}")
        for row in conn.execute(
            "select step_slug, status, remaining_deps, remaining_tasks, initial_tasks"
            " from pgflow.step_states where run_id = %s order by step_slug",
            (run_id,),
        ):
            lines.append(
                "  step {} {} remaining_deps={} remaining_tasks={} initial_tasks={}".format(*row)
            )
        tasks = conn.execute(
            "select step_slug, task_index, status, attempts_count, message_id,"
            " last_worker_id, started_at, error_message"
            " from pgflow.step_tasks where run_id = %s order by step_slug, task_index",
            (run_id,),
        ).fetchall()
        queue = sql.Identifier("pgmq", f"q_{flow_slug}")
        archive = sql.Identifier("pgmq", f"a_{flow_slug}")
        for task in tasks:
            msg: list[Any] | None = None
            if task[4] is not None:
                found = conn.execute(
                    sql.SQL(
                        "select 'queued', read_ct,"
                        " round(extract(epoch from vt - clock_timestamp()))"
                        " from {} where msg_id = %(m)s union all"
                        " select 'archived', read_ct, null from {} where msg_id = %(m)s"
                    ).format(queue, archive),
                    {"m": task[4]},
                ).fetchone()
                msg = list(found) if found else None
            lines.append(
                "  task {}[{}] {} attempts={} msg={} worker={} started_at={} error={!r}".format(
                    *task
                )
                + (f" message={msg[0]} read_ct={msg[1]} visible_in={msg[2]}s" if msg else "")
            )
    return "\n".join(lines)


def wait_081(client: Client, run_id: str, timeout: float, dsn: str, worker: WorkerProcess) -> Run:
    """Wait for a run; on timeout fail with its state in the database and the worker's log."""
    try:
        return client.wait(run_id, timeout)
    except WaitTimeout as exc:
        raise AssertionError(
            f"{exc}\n{run_state_081(dsn, run_id)}\nworker log tail:\n{worker.log_tail(60)}"
        ) from exc


def test_flows_using_only_081_features_run_on_a_real_081_core(
    pgflow081_dsn: str, tmp_path: Path
) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    for source in (EXAMPLES / "hello.yaml", EXAMPLES / "word_stats.toml", FLOWS / "e2e_retry.yaml"):
        shutil.copy(source, folder)
    shutil.copytree(EXAMPLES / "demo", folder / "demo")
    shutil.copy(FLOWS / "e2e_steps.py", folder)
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            worker_command(folder, dsn=pgflow081_dsn, extra=("--poll-interval", "0.2")),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    worker = WorkerProcess(proc, log)
    try:
        worker.wait_for("legacy_protocol")
        worker.wait_for("worker_started")
        with Client(pgflow081_dsn) as client:
            hello = client.start("hello", {"name": "0.8.1"})
            words = client.start("word_stats", ["one two", "three"])
            retry = client.start("e2e_retry", {"succeed_on": 2})
            dsn = pgflow081_dsn
            assert wait_081(client, hello, 30, dsn, worker).output == {
                "shout": {"message": "HELLO, 0.8.1!"}
            }
            assert wait_081(client, words, 30, dsn, worker).output == {
                "total": {"documents": 2, "words": 3}
            }
            failed = wait_081(client, retry, 60, dsn, worker)
        assert failed.status == "failed"
        with psycopg.connect(pgflow081_dsn) as conn:
            rows = conn.execute(
                "select step_slug, status, attempts_count, error_message from pgflow.step_tasks"
                " where run_id = %s order by step_slug",
                (retry,),
            ).fetchall()
        assert rows == [
            ("exhausted", "failed", 2, "ValueError: boom"),
            ("flaky", "completed", 2, "RuntimeError: transient failure on attempt 1"),
        ]  # 0.8.1 keeps the last error message on a task that then completed
    finally:
        worker.signal(signal.SIGTERM)
        assert worker.wait(20) == 0
    assert worker.events("worker_stopped")


def test_start_many_on_a_real_081_core_falls_back_to_start_flow(pgflow081_dsn: str) -> None:
    with psycopg.connect(pgflow081_dsn, autocommit=True) as conn:
        conn.execute("select pgflow.create_flow('many_081')")
        conn.execute("select pgflow.add_step('many_081', 'a')")
    with Client(pgflow081_dsn) as client:
        run_ids = client.start_many("many_081", [{"n": 1}, {"n": 2}, {"n": 3}])
    with psycopg.connect(pgflow081_dsn) as conn:
        rows = conn.execute(
            "select run_id::text, input from pgflow.runs where flow_slug = 'many_081'"
        ).fetchall()
    assert sorted(rows, key=lambda r: run_ids.index(r[0])) == [
        (run_ids[0], {"n": 1}),
        (run_ids[1], {"n": 2}),
        (run_ids[2], {"n": 3}),
    ]
