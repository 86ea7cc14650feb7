"""OpenTelemetry traces across a run (the ``otel`` extra: ``pip install 'pgflow-yaml[otel]'``).

``Client.start`` records the W3C trace context of the caller's current span on the run
(``pgflow.set_run_trace_context``, in the same statement as the start, so no worker sees the run
without it). The worker reads the contexts of the runs it claims (one ``run_trace_contexts``
call per claim) and runs each task attempt inside a span ``pgflow.task <flow>.<step>``, a child
of that context, with the attributes listed in docs/observability.md; a handler's own spans
nest inside it (sync handlers run in a copy of the context).

Everything here is a no-op without ``opentelemetry-api``, and the worker side also while no SDK
tracer provider is set, so that untraced deployments pay nothing.
"""

from __future__ import annotations

import importlib.util
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgflow_yaml.worker.runner import Outcome, Task
    from pgflow_yaml.worker.store import Link

AVAILABLE = importlib.util.find_spec("opentelemetry") is not None
TRACER_NAME = "pgflow_yaml"
_KEEP = 10_000  # trace contexts remembered between a claim and the tasks' starts
_contexts: OrderedDict[str, dict[str, str]] = OrderedDict()


def current_context() -> dict[str, str] | None:
    """Return the W3C carrier (``traceparent``, ``tracestate``) of the current span, if any."""
    if not AVAILABLE:
        return None
    from opentelemetry import propagate, trace  # type: ignore[attr-defined,unused-ignore]

    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier or None


def enabled() -> bool:
    """Tell whether the worker should trace: OpenTelemetry with a tracer provider set."""
    if not AVAILABLE:
        return False
    from opentelemetry import trace  # type: ignore[attr-defined,unused-ignore]

    provider = trace.get_tracer_provider()
    return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


async def claimed(link: Link, rows: list[dict[str, Any]]) -> None:
    """Remember the trace contexts of the runs of claimed tasks (one query, when tracing)."""
    if not rows or not enabled():
        return
    run_ids = sorted({str(row["run_id"]) for row in rows} - set(_contexts))
    if not run_ids:
        return
    try:
        found = await link.fetch("run_trace_contexts", {"run_ids": run_ids})
    except Exception:  # a core without the function, a lost connection: tasks run untraced
        return
    for row in found:
        _contexts[str(row["run_id"])] = row["trace_context"]
    while len(_contexts) > _KEEP:
        _contexts.popitem(last=False)


def start_task(task: Task) -> Any:
    """Open the span of a task attempt and make it current; return what ``end_task`` needs."""
    if not enabled():
        return None
    from opentelemetry import (  # type: ignore[attr-defined,unused-ignore]
        context,
        propagate,
        trace,
    )

    parent = propagate.extract(_contexts.get(task.run_id) or {})
    span = trace.get_tracer(TRACER_NAME).start_span(
        f"pgflow.task {task.flow_slug}.{task.step_slug}",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes={
            "pgflow.flow_slug": task.flow_slug,
            "pgflow.step_slug": task.step_slug,
            "pgflow.run_id": task.run_id,
            "pgflow.task_index": task.task_index,
            "pgflow.attempt": task.attempt,
        },
    )
    token = context.attach(trace.set_span_in_context(span, parent))
    return span, token


def end_task(started: Any, outcome: Outcome) -> None:
    """Record the outcome on the task's span and close it."""
    if started is None:
        return
    from opentelemetry import context, trace  # type: ignore[attr-defined,unused-ignore]

    span, token = started
    failure = outcome.failure
    if failure is None:
        span.set_attribute("pgflow.outcome", "completed")
    else:
        span.set_attribute(
            "pgflow.outcome", "timed_out" if failure.type == "TaskTimeout" else "failed"
        )
        span.set_attribute("pgflow.error_type", failure.type)
        span.set_status(trace.Status(trace.StatusCode.ERROR, failure.message[:500]))
    span.end()
    context.detach(token)
