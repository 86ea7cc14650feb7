"""Running one handler: inputs, outputs, errors, timeouts (no database)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from pgflow_yaml import NonRetryable
from pgflow_yaml.worker.errors import OutputNotJson
from pgflow_yaml.worker.runner import (
    Context,
    Handler,
    Task,
    check_json,
    run_task,
    serialize_output,
)
from pgflow_yaml.worker.threads import DaemonPool


def make_task(input: Any = None, timeout: float | None = 5, attempt: int = 1) -> Task:
    return Task(
        "flow", "00000000-0000-0000-0000-000000000001", "step", 0, 1, attempt, timeout, input
    )


def run(handler_fn: Any, task: Task, ctx: Context | None = None) -> Any:
    pool = DaemonPool()
    try:
        return asyncio.run(run_task(task, Handler.inspect("mod:fn", handler_fn), ctx, pool))
    finally:
        pool.shutdown()


@pytest.mark.parametrize("value", [None, 0, False, "", [], {}, 1.5, {"a": [1, None, "x"]}, (1, 2)])
def test_falsy_and_nested_json_values_are_serialized_faithfully(value: Any) -> None:
    import json

    assert json.loads(serialize_output(value, "s")) == (
        list(value) if isinstance(value, tuple) else value
    )


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ({1, 2}, "of type set"),
        (b"x", "of type bytes"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (object(), "of type object"),
        ({"a": [1, {"b": {2}}]}, "output['a'][1]['b'] is of type set"),
        ({1: "x"}, "key of type int"),
        (["ok", "a\x00b"], "output[1] contains a NUL character"),
        ({"k\x00": 1}, "key with a NUL character"),
    ],
)
def test_non_json_output_names_the_type_and_the_step(value: Any, named: str) -> None:
    with pytest.raises(OutputNotJson) as info:
        serialize_output(value, "charge")
    assert "step 'charge'" in str(info.value)
    assert named in str(info.value)


def test_a_lone_surrogate_is_refused_before_it_reaches_the_database() -> None:
    with pytest.raises(OutputNotJson, match="lone surrogate"):
        serialize_output({"s": "\ud800"}, "s")


def test_check_json_accepts_deep_structures_without_recursion() -> None:
    deep: Any = 0
    for _ in range(5000):
        deep = [deep]
    check_json(deep)


def test_sync_handler_gets_the_input_and_its_output_is_serialized() -> None:
    outcome = run(lambda data: {"got": data}, make_task({"run": {"x": 1}}))
    assert outcome.ok
    assert outcome.output_json == '{"got":{"run":{"x":1}}}'


def test_async_handler_runs_on_the_loop() -> None:
    async def handler(data: int) -> int:
        await asyncio.sleep(0)
        return data * 2

    outcome = run(handler, make_task(21))
    assert outcome.output_json == "42"


def test_handler_with_two_parameters_receives_the_context() -> None:
    seen: dict[str, Any] = {}

    def handler(data: Any, ctx: Context) -> None:
        seen.update(run_id=ctx.run_id, step=ctx.step_slug, attempt=ctx.attempt)

    ctx = Context(
        run_id="r",
        flow_slug="flow",
        step_slug="step",
        task_index=0,
        attempt=2,
        worker_id="w",
        logger=logging.LoggerAdapter(logging.getLogger("t"), {}),
        shutdown=threading.Event(),
    )
    outcome = run(handler, make_task(attempt=2), ctx)
    assert outcome.output_json == "null"
    assert seen == {"run_id": "r", "step": "step", "attempt": 2}


def test_exception_records_message_type_and_traceback_and_is_retryable() -> None:
    def handler(data: Any) -> None:
        raise ValueError("bad quantity")

    failure = run(handler, make_task()).failure
    assert failure.message == "ValueError: bad quantity"
    assert failure.type == "builtins.ValueError"
    assert "in handler" in failure.traceback and "bad quantity" in failure.traceback
    assert failure.retryable is True


def test_non_retryable_subclass_is_not_retryable() -> None:
    class CardDeclined(NonRetryable):
        pass

    def handler(data: Any) -> None:
        raise CardDeclined("card declined")

    failure = run(handler, make_task()).failure
    assert failure.retryable is False
    assert failure.message == "CardDeclined: card declined"


def test_non_json_output_fails_the_task_naming_the_type() -> None:
    failure = run(lambda data: {1, 2}, make_task()).failure
    assert failure.type == "OutputNotJson"
    assert "of type set" in failure.message


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"at": datetime(2026, 1, 2, 3, 4, 5)},
            "step 'step' returned a value that is not JSON: output['at'] is of type datetime,"
            " which is not JSON (use a string: value.isoformat())",
        ),
        (
            {3, 1},
            "step 'step' returned a value that is not JSON: output is of type set, which is not"
            " JSON (use a list: sorted(value) or list(value))",
        ),
        (
            [Decimal("1.5")],
            "step 'step' returned a value that is not JSON: output[0] is of type Decimal, which"
            " is not JSON (use a string or a float: str(value))",
        ),
    ],
)
def test_a_non_json_output_is_not_retryable(value: Any, message: str) -> None:
    """The same handler returns the same kind of value on every attempt: retrying is useless."""
    failure = run(lambda data: value, make_task()).failure
    assert (failure.type, failure.message, failure.retryable) == ("OutputNotJson", message, False)


def test_an_output_too_deep_to_write_as_json_is_not_retryable() -> None:
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    failure = run(lambda data: deep, make_task()).failure
    assert (failure.type, failure.message, failure.retryable) == (
        "NestedTooDeep",
        "step 'step' returned a value nested too deeply to write as JSON",
        False,
    )


def test_async_handler_past_its_timeout_is_cancelled() -> None:
    cancelled = threading.Event()

    async def handler(data: Any) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    failure = run(handler, make_task(timeout=0.05)).failure
    assert (failure.type, failure.retryable) == ("TaskTimeout", True)  # may pass next time
    assert "timed out after 0.05s" in failure.message and "cancelled" in failure.message
    assert cancelled.is_set()


def test_sync_handler_past_its_timeout_is_abandoned_and_its_thread_keeps_running() -> None:
    release = threading.Event()
    finished = threading.Event()

    def handler(data: Any) -> str:
        release.wait(10)
        finished.set()
        return "late"

    failure = run(handler, make_task(timeout=0.05)).failure
    assert failure.type == "TaskTimeout" and "abandoned" in failure.message
    assert not finished.is_set()
    release.set()
    assert finished.wait(5)


def test_handler_raising_timeout_error_itself_is_not_a_step_timeout() -> None:
    def handler(data: Any) -> None:
        raise TimeoutError("socket timed out")

    failure = run(handler, make_task(timeout=5)).failure
    assert failure.type == "builtins.TimeoutError"


def test_handler_calling_sys_exit_fails_the_task() -> None:
    def handler(data: Any) -> None:
        raise SystemExit(3)

    failure = run(handler, make_task()).failure
    assert failure.type == "builtins.SystemExit"


@pytest.mark.parametrize(
    ("fn", "wants_ctx"),
    [
        (lambda a: a, False),
        (lambda a, ctx: a, True),
        (lambda a, ctx=None: a, True),
        (lambda *args: args, True),
    ],
)
def test_inspect_tells_whether_a_handler_takes_ctx(fn: Any, wants_ctx: bool) -> None:
    assert Handler.inspect("m:f", fn).wants_ctx is wants_ctx


@pytest.mark.parametrize("fn", [lambda: 1, lambda a, b, c: 1, 42])
def test_inspect_rejects_handlers_of_the_wrong_shape(fn: Any) -> None:
    with pytest.raises(TypeError):
        Handler.inspect("m:f", fn)


def test_daemon_pool_reuses_idle_threads() -> None:
    pool = DaemonPool(idle_seconds=5)
    try:
        names = set()
        for _ in range(5):
            names.add(pool.submit(lambda: threading.current_thread().name).result(5))
            time.sleep(0.01)
        assert len(names) == 1
        assert pool.idle_threads == 1
    finally:
        pool.shutdown()


def test_daemon_pool_starts_a_thread_when_all_are_busy() -> None:
    pool = DaemonPool()
    gate = threading.Event()
    try:
        first = pool.submit(gate.wait, 5)
        second = pool.submit(lambda: "free")
        assert second.result(5) == "free"
        gate.set()
        assert first.result(5) is True
    finally:
        pool.shutdown()
