"""A run started inside a span yields one trace: the caller's span, a span per task attempt
(with flow, step, run id, task index, attempt, outcome), and the handlers' spans inside those.

Uses the OpenTelemetry SDK's in-memory exporter and a worker in this process.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the OpenTelemetry SDK is not installed")

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from pgflow_yaml.client import Client
from pgflow_yaml.worker.service import WorkerThread, make_worker, prepare

FLOW = Path(__file__).resolve().parent / "traced_flow.yaml"
EXPORTER = InMemorySpanExporter()


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """Return the in-memory exporter of this process's tracer provider, emptied."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
        trace.set_tracer_provider(provider)
    EXPORTER.clear()
    yield EXPORTER
    EXPORTER.clear()


def test_a_run_started_in_a_span_is_one_trace(dsn: str, exporter: InMemorySpanExporter) -> None:
    flows, handlers = prepare([FLOW], dsn, apply=True)
    thread = WorkerThread(make_worker(dsn, handlers, flows, grace_period=2))
    thread.start()
    try:
        with Client(dsn) as client:
            with trace.get_tracer("tests").start_as_current_span("request") as request:
                run_id = client.start("traced", {})
            run = client.wait(run_id, timeout=30)
            untraced = client.start("traced", {})
            assert client.wait(untraced, timeout=30).status == "completed"
    finally:
        thread.stop(timeout=10)
    assert run.status == "completed"
    assert run.output == {"last": [1, 2]}
    spans = exporter.get_finished_spans()
    trace_id = request.get_span_context().trace_id
    mine = [s for s in spans if s.context.trace_id == trace_id]
    tasks = sorted(
        (s for s in mine if s.name.startswith("pgflow.task ")),
        key=lambda s: (s.attributes["pgflow.step_slug"], s.attributes["pgflow.task_index"]),
    )
    assert [(s.name, s.attributes["pgflow.task_index"]) for s in tasks] == [
        ("pgflow.task traced.each", 0),
        ("pgflow.task traced.each", 1),
        ("pgflow.task traced.first", 0),
        ("pgflow.task traced.last", 0),
    ]
    request_id = request.get_span_context().span_id
    for span in tasks:
        assert span.parent is not None and span.parent.span_id == request_id
        assert dict(span.attributes) | {"pgflow.task_index": 0} == {
            "pgflow.flow_slug": "traced",
            "pgflow.step_slug": span.attributes["pgflow.step_slug"],
            "pgflow.run_id": run_id,
            "pgflow.task_index": 0,
            "pgflow.attempt": 1,
            "pgflow.outcome": "completed",
        }
    handler_spans = [s for s in mine if s.name.startswith("handler.")]
    assert sorted(s.name for s in handler_spans) == [
        "handler.work",
        "handler.work",
        "handler.work_async",
        "handler.work_async",
    ]
    task_ids = {s.context.span_id for s in tasks}
    assert all(s.parent is not None and s.parent.span_id in task_ids for s in handler_spans)
    # the run started outside any span: its task spans are roots of traces of their own
    others = [s for s in spans if s.name.startswith("pgflow.task ") and s not in tasks]
    assert len(others) == 4
    assert all(s.parent is None for s in others)
