"""Run one handler for one task: input in, a JSON output or a recorded error out.

Sync handlers run on daemon threads, ``async def`` handlers on the event loop. A handler
running past its step's timeout is abandoned (an async one is cancelled; a sync one keeps its
thread but its result is dropped, and the database fences out its attempt anyway). Outputs are
checked to be JSON and serialized once, here.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import threading
import traceback
from collections.abc import Callable
from contextvars import copy_context
from dataclasses import dataclass, field
from typing import Any

import psycopg

from pgflow_yaml import db
from pgflow_yaml.redaction import redact
from pgflow_yaml.worker.errors import (
    InputNotDecodable,
    NestedTooDeep,
    NonRetryable,
    OutputNotJson,
    TaskTimeout,
)
from pgflow_yaml.worker.threads import DaemonPool

MAX_INPUT_DEPTH = 512
"""How many levels of arrays and objects a run input may nest: the client refuses deeper input,
and a worker decodes at least this many (a task it cannot decode fails without retry)."""


@dataclass(frozen=True)
class Task:
    """A claimed task: what ``pgflow.claim_tasks`` returned for it.

    ``attempt`` counts the task's starts (what handlers see); ``start_seq`` names this start
    alone and fences its report (``None`` on pgflow 0.8.1's protocol, which has no fence).
    """

    flow_slug: str
    run_id: str
    step_slug: str
    task_index: int
    msg_id: int
    attempt: int
    timeout: float | None
    input: Any
    start_seq: int | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        """Return ``(run_id, step_slug, task_index)``, the task's identity."""
        return (self.run_id, self.step_slug, self.task_index)


def task_fields(task: Task) -> dict[str, Any]:
    """Return the fields that name a task in a log record."""
    return {
        "flow_slug": task.flow_slug,
        "run_id": task.run_id,
        "step_slug": task.step_slug,
        "task_index": task.task_index,
        "attempt": task.attempt,
    }


@dataclass(frozen=True)
class Handler:
    """An imported handler and how to call it."""

    path: str
    fn: Callable[..., Any]
    is_async: bool
    wants_ctx: bool

    @classmethod
    def inspect(cls, path: str, fn: Callable[..., Any]) -> Handler:
        """Describe ``fn``: is it ``async def``, does it take ``(input, ctx)`` or ``(input)``.

        Raises:
            TypeError: ``fn`` is not callable or takes neither one nor two arguments.
        """
        if not callable(fn):
            raise TypeError(f"{path} is a {type(fn).__name__}, not a function")
        is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)  # noqa: B004 - an object with an async __call__
        )
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            return cls(path, fn, is_async, wants_ctx=False)
        positional = [
            p
            for p in params
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
        variadic = any(p.kind is p.VAR_POSITIONAL for p in params)
        optional = [
            p
            for p in params
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is not p.empty
        ]
        if len(positional) > 2:
            raise TypeError(f"{path} takes {len(positional)} arguments; expected (input[, ctx])")
        if not positional and not variadic and not optional:
            raise TypeError(f"{path} takes no argument; expected (input[, ctx])")
        wants_ctx = len(positional) == 2 or variadic or (len(positional) == 1 and bool(optional))
        return cls(path, fn, is_async, wants_ctx)


@dataclass
class Context:
    """What a handler gets as its second argument.

    Attributes:
        run_id: the run's id.
        flow_slug: the flow's slug.
        step_slug: the step's slug.
        task_index: the task's index (0 for a single step, the element's index for a map).
        attempt: 1 for the first attempt, then 2, 3, ...
        worker_id: the id of the worker running it.
        logger: a logger whose records carry the task's identity.
        shutdown: set when the worker is stopping; long handlers may check it and return.
    """

    run_id: str
    flow_slug: str
    step_slug: str
    task_index: int
    attempt: int
    worker_id: str
    logger: logging.LoggerAdapter[logging.Logger]
    shutdown: threading.Event
    _dsn: str | None = field(default=None, repr=False)

    def connect(self) -> psycopg.Connection[Any]:
        """Open a new database connection (close it, e.g. with ``with ctx.connect() as conn``).

        Under transaction pooling (``PGFLOW_TRANSACTION_POOLING``, which ``run-worker
        --transaction-pooling`` sets) it prepares no statements on the server.

        Raises:
            RuntimeError: the worker has no database (a test harness).
        """
        return psycopg.connect(self._require_dsn(), **db.session_kwargs())

    async def connect_async(self) -> psycopg.AsyncConnection[Any]:
        """Open a new async database connection (``async with await ctx.connect_async()``).

        Raises:
            RuntimeError: the worker has no database (a test harness).
        """
        return await psycopg.AsyncConnection.connect(self._require_dsn(), **db.session_kwargs())

    def _require_dsn(self) -> str:
        if self._dsn is None:
            raise RuntimeError("this context has no database")
        return self._dsn


@dataclass(frozen=True)
class Failure:
    """Why a task failed, as recorded on it.

    The client role reads what a task records, so the message and traceback are redacted
    (``pgflow_yaml.redaction``) when the failure is made: no path can store a secret of the
    worker (its DSN, its password in any spelling).
    """

    message: str
    type: str
    traceback: str | None
    retryable: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", redact(self.message))
        if self.traceback is not None:
            object.__setattr__(self, "traceback", redact(self.traceback))


@dataclass(frozen=True)
class Outcome:
    """What running a task produced: a serialized JSON output, or a failure."""

    task: Task
    output_json: str | None = None
    failure: Failure | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Return True when the handler returned a JSON value."""
        return self.failure is None


def decode_input(text: str | None) -> Any:
    """Return a task's handler input, decoded from the JSON text the claim returned.

    Raises:
        InputNotDecodable: the text nests deeper than Python's decoder can follow (which is
            always deeper than ``MAX_INPUT_DEPTH``) or holds a number Python refuses to convert.
    """
    if text is None:
        return None
    try:
        return json.loads(text)
    except RecursionError:
        message = f"task input could not be decoded: nested deeper than {MAX_INPUT_DEPTH} levels"
        raise InputNotDecodable(message) from None
    except ValueError as exc:
        raise InputNotDecodable(f"task input could not be decoded: {exc}") from None


_JSON_INSTEAD = {
    "datetime": "a string: value.isoformat()",
    "date": "a string: value.isoformat()",
    "time": "a string: value.isoformat()",
    "set": "a list: sorted(value) or list(value)",
    "frozenset": "a list: sorted(value) or list(value)",
    "Decimal": "a string or a float: str(value)",
    "UUID": "a string: str(value)",
    "bytes": "a string: value.decode() or base64",
}
"""What a handler can return instead of a common value that is not JSON, by type name."""


def check_json(value: Any, where: str = "output", max_depth: int | None = None) -> None:
    """Check that ``value`` is plain JSON data (dict with str keys, list, str, finite number, ...).

    ``max_depth``, when given, limits how many levels of lists and dicts may nest.

    Raises:
        OutputNotJson: naming the offending type and where it sits.
        NestedTooDeep: the value nests deeper than ``max_depth``.
    """
    limit = max_depth if max_depth is not None else -1
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise OutputNotJson(f"{path} contains a NUL character, which jsonb cannot store")
            continue
        if item is None or isinstance(item, bool | int):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise OutputNotJson(f"{path} is {item!r}, which JSON cannot represent")
            continue
        if isinstance(item, list | tuple | dict) and depth == limit:
            raise NestedTooDeep(f"{where} is nested deeper than {limit} levels")
        if isinstance(item, list | tuple):
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(item))
            continue
        if isinstance(item, dict):
            for k, v in item.items():
                if isinstance(k, str) and "\x00" in k:
                    raise OutputNotJson(f"{path} has a key with a NUL character ({k!r})")
                if not isinstance(k, str):
                    raise OutputNotJson(
                        f"{path} has a key of type {type(k).__name__} ({k!r}); "
                        "JSON keys are strings"
                    )
                stack.append((v, f"{path}[{k!r}]", depth + 1))
            continue
        kind = type(item).__name__
        hint = _JSON_INSTEAD.get(kind)
        raise OutputNotJson(
            f"{path} is of type {kind}, which is not JSON" + (f" (use {hint})" if hint else "")
        )


def serialize_output(value: Any, step_slug: str) -> str:
    """Return the JSON text of a handler's return value.

    Raises:
        OutputNotJson: the value is not JSON; the message names the type and the step.
        NestedTooDeep: the value nests too deeply for Python's json to write it.
    """
    try:
        check_json(value)
    except OutputNotJson as exc:
        message = f"step {step_slug!r} returned a value that is not JSON: {exc}"
        raise OutputNotJson(message) from None
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except RecursionError:
        message = f"step {step_slug!r} returned a value nested too deeply to write as JSON"
        raise NestedTooDeep(message) from None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        message = f"step {step_slug!r} returned a string with a lone surrogate, not valid UTF-8"
        raise OutputNotJson(message) from None
    return text


def describe_failure(exc: BaseException) -> Failure:
    """Turn a handler's exception into the failure recorded on its task.

    A timeout may pass on another attempt, so it is retried; an output that is not JSON (or
    nests too deeply) comes back the same on every attempt, so it fails the task at once.
    """
    if isinstance(exc, TaskTimeout):
        return Failure(str(exc), type(exc).__name__, None, retryable=True)
    if isinstance(exc, OutputNotJson):  # NestedTooDeep too: deterministic, never retried
        return Failure(str(exc), type(exc).__name__, None, retryable=False)
    retryable = not isinstance(exc, NonRetryable) and not getattr(exc, "non_retryable", False)
    text = str(exc)
    message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return Failure(message, f"{type(exc).__module__}.{type(exc).__qualname__}", tb, retryable)


async def run_task(task: Task, handler: Handler, ctx: Context | None, pool: DaemonPool) -> Outcome:
    """Run ``handler`` on ``task`` with its timeout; return the outcome (never raises).

    ``asyncio.CancelledError`` still propagates: the caller cancels only when it abandons
    the task (a forced stop).
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    args: tuple[Any, ...] = (task.input, ctx) if handler.wants_ctx else (task.input,)
    deadline = asyncio.timeout(task.timeout)
    try:
        async with deadline:
            if handler.is_async:
                result = await handler.fn(*args)
            else:
                result = await asyncio.wrap_future(
                    pool.submit(copy_context().run, handler.fn, *args)
                )
        output = serialize_output(result, task.step_slug)
    except (Exception, SystemExit) as exc:
        if isinstance(exc, TimeoutError) and deadline.expired():
            how = "cancelled" if handler.is_async else "abandoned"
            message = (
                f"step {task.step_slug!r} timed out after {task.timeout:g}s "
                f"(attempt {task.attempt}; handler {how})"
            )
            exc = TaskTimeout(message)
        return Outcome(task, failure=describe_failure(exc), seconds=loop.time() - started)
    return Outcome(task, output_json=output, seconds=loop.time() - started)
