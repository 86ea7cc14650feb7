"""The worker serves a database holding the published pgflow 0.8.1 core."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import psycopg

from pgflow_yaml.client import Client

from .conftest import EXAMPLES, FLOWS, WorkerProcess, worker_command


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
            assert client.wait(hello, 30).output == {"shout": {"message": "HELLO, 0.8.1!"}}
            assert client.wait(words, 30).output == {"total": {"documents": 2, "words": 3}}
            failed = client.wait(retry, 60)
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
