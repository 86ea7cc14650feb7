"""A run started inside a span yields one trace: the caller's span, a span per task attempt
(with flow, step, run id, task index, attempt, outcome), and the handlers' spans inside those.

Uses the OpenTelemetry SDK's in-memory exporter and a worker in this process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

pytest.importorskip("opentelemetry.sdk", reason="the OpenTelemetry SDK is not installed")

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from pgflow_yaml.client import AsyncClient, Client
from pgflow_yaml.worker.service import WorkerThread, make_worker, prepare
from tests.compat.pgflow081 import pgflow081_dsn, pgflow081_template  # noqa: F401

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


def test_a_start_in_a_span_on_pgflow_081_starts_the_run_untraced(
    pgflow081_dsn: str,  # noqa: F811
    exporter: InMemorySpanExporter,
) -> None:
    """pgflow 0.8.1 has no pgflow.set_run_trace_context: the run starts, its trace context is
    not recorded (and a caller's transaction is not aborted by a failed traced start)."""
    with psycopg.connect(pgflow081_dsn, autocommit=True) as admin:
        admin.execute("select pgflow.create_flow('traced081')")
        admin.execute("select pgflow.add_step('traced081', 'only')")
    tracer = trace.get_tracer("tests")

    async def in_async() -> str:
        async with AsyncClient(pgflow081_dsn) as aclient:
            with tracer.start_as_current_span("async request"):
                return await aclient.start("traced081", {"n": 4})

    with Client(pgflow081_dsn) as client, psycopg.connect(pgflow081_dsn) as conn:
        with tracer.start_as_current_span("request"):
            own = client.start("traced081", {"n": 1})
            again = client.start("traced081", {"n": 2})
            inside = client.start("traced081", {"n": 3}, connection=conn)
            assert conn.execute("select 1").fetchone() == (1,)  # the transaction goes on
            conn.commit()
        started = asyncio.run(in_async())
        statuses = [client.status(r)[0] for r in (own, again, inside, started)]
    assert statuses == ["started"] * 4
    with psycopg.connect(pgflow081_dsn) as check:
        has = check.execute("select to_regproc('pgflow.set_run_trace_context')").fetchone()
    assert has == (None,)
