"""Prometheus metrics: the worker's own (``run-worker --metrics-port``) and the database's.

The worker calls the hooks below (``task_started``, ``task_finished``, ``query_done``,
``reconnected``), one line each where the event happens. They do nothing until
:func:`serve_worker_metrics` has switched them on, so a worker without ``--metrics-port`` pays
one attribute check per event and needs no ``prometheus_client``.

:func:`database_metrics` renders the gauges that ``pgflow ui`` serves at ``/metrics``, from
rows the dashboard read (ready tasks and the age of the oldest per flow and step, runs of the
last day by status, live workers). Every metric and its labels are listed in
docs/observability.md.

``prometheus_client`` comes with the ``metrics`` and ``ui`` extras.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from pgflow_yaml.errors import UsageError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from pgflow_yaml.worker.runner import Outcome, Task

TIMED_OUT = "TaskTimeout"
CLAIM_QUERIES = frozenset({"claim_tasks", "read_messages_081"})
REPORT_QUERIES = {
    "complete_tasks": "complete",
    "complete_and_claim": "complete",
    "complete_task_081": "complete",
    "fail_tasks": "fail",
    "fail_task_081": "fail",
}
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


def require_client() -> None:
    """Check that prometheus_client is installed.

    Raises:
        UsageError: it is not; the message says how to install it.
    """
    if importlib.util.find_spec("prometheus_client") is None:
        raise UsageError("metrics need prometheus_client: pip install 'pgflow-yaml[metrics]'")


class WorkerMetrics:
    """The worker's metrics, in their own registry."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        step = ("flow", "step")

        def counter(name: str, doc: str) -> Counter:
            return Counter(name, doc, step, registry=self.registry)

        self.started = counter("pgflow_worker_tasks_started", "Task attempts started.")
        self.completed = counter("pgflow_worker_tasks_completed", "Task attempts completed.")
        self.failed = counter(
            "pgflow_worker_tasks_failed", "Task attempts failed (timeouts included)."
        )
        self.retried = counter(
            "pgflow_worker_tasks_retried", "Task attempts started after a failed attempt."
        )
        self.timed_out = counter("pgflow_worker_tasks_timed_out", "Task attempts timed out.")
        self.duration = Histogram(
            "pgflow_worker_task_duration_seconds",
            "Handler run time of a task attempt, by outcome (completed, failed, timed_out).",
            (*step, "outcome"),
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "pgflow_worker_tasks_in_flight", "Tasks running in this worker.", registry=self.registry
        )
        self.claim = Histogram(
            "pgflow_worker_claim_seconds",
            "Round trip of one claim of tasks.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.report = Histogram(
            "pgflow_worker_report_seconds",
            "Round trip of one report of a batch of results, by kind (complete, fail).",
            ("kind",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.reconnects = Counter(
            "pgflow_worker_reconnects",
            "Connections re-opened after a loss, by link (claim, report-N, housekeeping, listen).",
            ("link",),
            registry=self.registry,
        )


_worker: WorkerMetrics | None = None


def serve_worker_metrics(port: int, host: str = "127.0.0.1") -> WorkerMetrics:
    """Switch the worker hooks on and serve their metrics over HTTP on ``host:port``.

    Raises:
        UsageError: prometheus_client is missing, or the port cannot be bound.
    """
    global _worker
    require_client()
    from prometheus_client import start_http_server

    metrics = _worker or WorkerMetrics()
    try:
        start_http_server(port, addr=host, registry=metrics.registry)
    except OSError as exc:
        raise UsageError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None
    _worker = metrics
    return metrics


def enable_worker_metrics() -> WorkerMetrics:
    """Switch the worker hooks on without serving them (tests, embedding); return them."""
    global _worker
    require_client()
    _worker = _worker or WorkerMetrics()
    return _worker


# -- the worker's hooks ----------------------------------------------------------------------
def task_started(task: Task) -> None:
    """Count a task attempt that starts (a retry when it is not the first)."""
    if _worker is None:
        return
    _worker.started.labels(task.flow_slug, task.step_slug).inc()
    if task.attempt > 1:
        _worker.retried.labels(task.flow_slug, task.step_slug).inc()
    _worker.in_flight.inc()


def task_finished(outcome: Outcome) -> None:
    """Count a task attempt that ended and observe its duration."""
    if _worker is None:
        return
    task, failure = outcome.task, outcome.failure
    labels = (task.flow_slug, task.step_slug)
    if failure is None:
        _worker.completed.labels(*labels).inc()
        result = "completed"
    else:
        _worker.failed.labels(*labels).inc()
        result = "failed"
        if failure.type == TIMED_OUT:
            _worker.timed_out.labels(*labels).inc()
            result = "timed_out"
    _worker.duration.labels(*labels, result).observe(outcome.seconds)
    _worker.in_flight.dec()


def query_done(name: str, seconds: float) -> None:
    """Observe the round trip of a claim or a report (other queries are not measured)."""
    if _worker is None:
        return
    if name in CLAIM_QUERIES:
        _worker.claim.observe(seconds)
    elif name in REPORT_QUERIES:
        _worker.report.labels(REPORT_QUERIES[name]).observe(seconds)


def reconnected(link: str) -> None:
    """Count a connection re-opened after a loss."""
    if _worker is not None:
        _worker.reconnects.labels(link).inc()


# -- the database's gauges (pgflow ui /metrics) ----------------------------------------------
def database_metrics(
    ready: Iterable[dict[str, Any]],
    runs: Iterable[dict[str, Any]],
    workers: Iterable[dict[str, Any]],
) -> bytes:
    """Return the Prometheus text of the database gauges from the dashboard's rows."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily

    ready_tasks = GaugeMetricFamily(
        "pgflow_ready_tasks", "Tasks queued and not yet started.", labels=["flow", "step"]
    )
    oldest = GaugeMetricFamily(
        "pgflow_oldest_ready_task_age_seconds",
        "Seconds the oldest queued task has waited.",
        labels=["flow", "step"],
    )
    for row in ready:
        ready_tasks.add_metric([row["flow_slug"], row["step_slug"]], row["tasks"])
        oldest.add_metric([row["flow_slug"], row["step_slug"]], float(row["oldest_seconds"]))
    by_status = GaugeMetricFamily(
        "pgflow_runs", "Runs started in the last 24 hours, by status.", labels=["flow", "status"]
    )
    for row in runs:
        by_status.add_metric([row["flow_slug"], row["status"]], row["last_day"])
    live = GaugeMetricFamily(
        "pgflow_live_workers",
        "Workers heard from in the last 30 s, by the flows they serve (comma-separated).",
        labels=["flows"],
    )
    for row in workers:
        live.add_metric([row["queue_name"]], row["live"])

    class _Fixed:
        def collect(self) -> Iterator[GaugeMetricFamily]:
            yield from (ready_tasks, oldest, by_status, live)

    registry: CollectorRegistry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed())
    return generate_latest(registry)
