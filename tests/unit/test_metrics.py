"""The worker's metric hooks: what each outcome counts, and the database gauges' text."""

from __future__ import annotations

import pytest

from pgflow_yaml import metrics
from pgflow_yaml.worker.runner import Failure, Outcome, Task

pytest.importorskip("prometheus_client", reason="prometheus_client is missing")


def _task(attempt: int) -> Task:
    return Task("unit_flow", "r-1", "slow", 0, 1, attempt, 1.0, None)


def _count(m: metrics.WorkerMetrics, name: str, **labels: str) -> float:
    return m.registry.get_sample_value(name, labels) or 0.0


def test_a_timed_out_retry_counts_as_retried_failed_and_timed_out() -> None:
    m = metrics.enable_worker_metrics()
    labels = {"flow": "unit_flow", "step": "slow"}
    before = {
        n: _count(m, n, **labels)
        for n in (
            "pgflow_worker_tasks_retried_total",
            "pgflow_worker_tasks_failed_total",
            "pgflow_worker_tasks_timed_out_total",
            "pgflow_worker_tasks_completed_total",
        )
    }
    task = _task(attempt=2)
    metrics.task_started(task)
    assert _count(m, "pgflow_worker_tasks_in_flight") >= 1
    timeout = Failure("step 'slow' timed out after 1s", "TaskTimeout", None, retryable=True)
    metrics.task_finished(Outcome(task, failure=timeout, seconds=1.0))
    after = {n: _count(m, n, **labels) - v for n, v in before.items()}
    assert after == {
        "pgflow_worker_tasks_retried_total": 1,
        "pgflow_worker_tasks_failed_total": 1,
        "pgflow_worker_tasks_timed_out_total": 1,
        "pgflow_worker_tasks_completed_total": 0,
    }
    assert (
        _count(m, "pgflow_worker_task_duration_seconds_count", **labels, outcome="timed_out") >= 1
    )


def test_database_metrics_text() -> None:
    text = metrics.database_metrics(
        [{"flow_slug": "f", "step_slug": "s", "tasks": 3, "oldest_seconds": 2.5}],
        [{"flow_slug": "f", "status": "failed", "last_day": 4, "last_hour": 1}],
        [{"queue_name": "f,g", "live": 2}],
    ).decode()
    assert 'pgflow_ready_tasks{flow="f",step="s"} 3.0' in text
    assert 'pgflow_oldest_ready_task_age_seconds{flow="f",step="s"} 2.5' in text
    assert 'pgflow_runs{flow="f",status="failed"} 4.0' in text
    assert 'pgflow_live_workers{flows="f,g"} 2.0' in text
