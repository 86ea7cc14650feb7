"""Prometheus metrics after a known workload: a real worker's, and the dashboard's /metrics."""

from __future__ import annotations

import signal
import socket
import urllib.request
from typing import Any

import pytest

from pgflow_yaml.client import Client
from tests.e2e.conftest import StartWorker, wait_until

parser = pytest.importorskip("prometheus_client.parser", reason="prometheus_client is missing")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in parser.text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_worker_metrics_count_a_known_workload(
    start_worker: StartWorker, client: Client, dsn: str
) -> None:
    port = _free_port()
    worker = start_worker(extra=("--metrics-port", str(port)))
    chain = [client.start("e2e_chain", {"n": i}) for i in range(2)]
    retry = client.start("e2e_retry", {"succeed_on": 2})
    for run_id in chain:
        assert client.wait(run_id, timeout=60).status == "completed"
    assert client.wait(retry, timeout=60).status == "failed"

    def scrape() -> dict[Any, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            return _samples(answer.read().decode())

    # the last failure is counted once the worker has finished it (its report may come first)
    samples = wait_until(
        lambda: (
            (s := scrape())
            and _value(s, "pgflow_worker_tasks_failed_total", flow="e2e_retry", step="exhausted")
            == 2
            and s
        ),
        what="both failures of step exhausted counted",
    )
    for step in ("a", "b", "c"):
        labels = {"flow": "e2e_chain", "step": step}
        assert _value(samples, "pgflow_worker_tasks_started_total", **labels) == 2
        assert _value(samples, "pgflow_worker_tasks_completed_total", **labels) == 2
        assert _value(samples, "pgflow_worker_tasks_failed_total", **labels) == 0
        assert (
            _value(
                samples, "pgflow_worker_task_duration_seconds_count", **labels, outcome="completed"
            )
            == 2
        )
    flaky = {"flow": "e2e_retry", "step": "flaky"}
    assert _value(samples, "pgflow_worker_tasks_started_total", **flaky) == 2
    assert _value(samples, "pgflow_worker_tasks_retried_total", **flaky) == 1
    assert _value(samples, "pgflow_worker_tasks_failed_total", **flaky) == 1
    assert _value(samples, "pgflow_worker_tasks_completed_total", **flaky) == 1
    exhausted = {"flow": "e2e_retry", "step": "exhausted"}
    assert _value(samples, "pgflow_worker_tasks_started_total", **exhausted) == 2
    assert _value(samples, "pgflow_worker_tasks_retried_total", **exhausted) == 1
    assert _value(samples, "pgflow_worker_tasks_timed_out_total", **exhausted) == 0
    assert _value(samples, "pgflow_worker_tasks_in_flight") == 0
    assert _value(samples, "pgflow_worker_claim_seconds_count") >= 1
    # 6 chain and 1 flaky completions, 3 failures: at least one batch of each kind
    assert 1 <= _value(samples, "pgflow_worker_report_seconds_count", kind="complete") <= 7
    assert 1 <= _value(samples, "pgflow_worker_report_seconds_count", kind="fail") <= 3
    assert _value(samples, "pgflow_worker_reconnects_total", link="claim") == 0

    pytest.importorskip("starlette", reason="the ui extra is not installed")
    from starlette.testclient import TestClient

    from pgflow_yaml.ui.app import Settings, create_app

    with TestClient(create_app(Settings(dsn=dsn))) as web:
        live = _samples(web.get("/metrics").text)
        flows = worker.events("worker_started")[0]["flows"]
        assert _value(live, "pgflow_live_workers", flows=",".join(flows)) == 1
        worker.signal(signal.SIGTERM)
        assert worker.wait(30) == 0
        queued = [client.start("e2e_chain", {"n": i}) for i in range(3)]
        assert len(queued) == 3
        db = _samples(web.get("/metrics").text)
    assert _value(db, "pgflow_ready_tasks", flow="e2e_chain", step="a") == 3
    assert _value(db, "pgflow_oldest_ready_task_age_seconds", flow="e2e_chain", step="a") >= 0
    assert _value(db, "pgflow_ready_tasks", flow="e2e_chain", step="b") == 0
    assert _value(db, "pgflow_runs", flow="e2e_chain", status="completed") == 2
    assert _value(db, "pgflow_runs", flow="e2e_chain", status="started") == 3
    assert _value(db, "pgflow_runs", flow="e2e_retry", status="failed") == 1
    assert _value(db, "pgflow_live_workers", flows=",".join(flows)) == 0
