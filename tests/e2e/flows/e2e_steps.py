"""Handlers of the end-to-end test flows (imported by real worker processes)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

from pgflow_yaml import NonRetryable


def _record(ctx: Any) -> None:
    target = os.environ.get("E2E_RECORD")
    if target:
        line = f"{ctx.run_id} {ctx.step_slug} {ctx.task_index} {ctx.attempt} {ctx.worker_id}\n"
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def echo(input: Any, ctx: Any) -> Any:
    """Return the input, recording the execution when E2E_RECORD names a file."""
    _record(ctx)
    return input


def sleepy(input: Any, ctx: Any) -> Any:
    """Sleep ``run.sleep`` seconds (default 0), then wait for the file ``run.until`` if given,
    before returning the run input."""
    _record(ctx)
    time.sleep(input["run"].get("sleep", 0))
    if "until" in input["run"]:
        _wait_for_file(Path(input["run"]["until"]))
    return input["run"]


def flaky(input: Any, ctx: Any) -> dict[str, int]:
    """Fail until attempt ``run.succeed_on``."""
    if ctx.attempt < input["run"]["succeed_on"]:
        raise RuntimeError(f"transient failure on attempt {ctx.attempt}")
    return {"attempt": ctx.attempt}


def always_fails(input: Any) -> None:
    """Fail every time."""
    raise ValueError("boom")


class CardDeclined(NonRetryable):
    """A permanent failure."""


def declined(input: Any) -> None:
    """Fail with a non-retryable error."""
    raise CardDeclined("card declined")


def slow_first(input: Any, ctx: Any) -> str:
    """Overrun the timeout on attempt 1 (and return late); return at once on attempt 2."""
    if ctx.attempt == 1:
        time.sleep(input["run"]["sleep"])
        return "late"
    return "on time"


async def async_slow_first(input: Any, ctx: Any) -> str:
    """The async twin of ``slow_first``."""
    if ctx.attempt == 1:
        await asyncio.sleep(input["run"]["sleep"])
        return "late"
    return "on time"


def not_json(input: Any) -> set[int]:
    """Return a value that is not JSON."""
    return {1, 2}


def falsy(input: Any) -> Any:
    """Return the run input's ``value`` as is (0, false, "", null...)."""
    return input["run"]["value"]


def gate(input: Any) -> str:
    """Fail unless the file named by ``run.marker`` exists."""
    if not Path(input["run"]["marker"]).exists():
        raise RuntimeError("the gate is closed")
    return "open"


def length(item: Any) -> int:
    """Return the length of one map element."""
    return len(item)


def total(input: Any) -> dict[str, int]:
    """Sum the map outputs."""
    return {"items": len(input["lengths"]), "sum": sum(input["lengths"])}


def _wait_for_file(path: Path, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} never appeared")
        time.sleep(0.02)


def two_phase(input: Any, ctx: Any) -> str:
    """First execution: wait for ``<run.dir>/release-first``, return "stale"; later ones: wait
    for ``<run.dir>/release-second``, return "fresh". ``<run.dir>/first`` marks the first."""
    _record(ctx)
    folder = Path(input["run"]["dir"])
    try:
        (folder / "first").touch(exist_ok=False)
    except FileExistsError:
        _wait_for_file(folder / "release-second")
        return "fresh"
    _wait_for_file(folder / "release-first")
    return "stale"


def kill_own_worker(input: Any, ctx: Any) -> None:
    """Record the execution, then SIGKILL the worker process running it."""
    _record(ctx)
    os.kill(os.getpid(), signal.SIGKILL)


def fails_when_released(input: Any) -> None:
    """Wait for the file named by ``run.release``, then fail."""
    _wait_for_file(Path(input["run"]["release"]))
    raise RuntimeError("slow broke after its run failed")
