"""Handlers of the tracing test: each opens a span, which must nest in the task's span."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace


def work(input: Any) -> list[int]:
    """Open a span (in the worker's thread) and return two items."""
    with trace.get_tracer("tests.handler").start_as_current_span("handler.work"):
        return [1, 2]


async def work_async(item: Any) -> int:
    """Open a span (on the worker's event loop) and return the item doubled."""
    with trace.get_tracer("tests.handler").start_as_current_span("handler.work_async"):
        return int(item) * 2
