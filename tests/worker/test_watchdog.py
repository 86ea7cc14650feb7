"""``LoopWatchdog``: which step blocked the event loop, logged once per step (no database)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import pytest

from pgflow_yaml.worker.runner import Task
from pgflow_yaml.worker.watchdog import LoopWatchdog


class Records(logging.Handler):
    """Keep the ``loop_blocked`` records of the worker's logger."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "action", None) == "loop_blocked":
            self.records.append(record)


@pytest.fixture
def blocked() -> Iterator[list[logging.LogRecord]]:
    logger = logging.getLogger("pgflow_yaml.worker")
    handler = Records()
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)


def _task(step: str, index: int = 0) -> Task:
    return Task("shop", "run-1", step, index, 1, 1, None, None)


async def _block(seconds: float) -> None:
    time.sleep(seconds)  # the mistake the watchdog is for


def test_each_step_that_blocks_is_named_once_and_other_stalls_once(
    blocked: list[logging.LogRecord],
) -> None:
    async def main() -> None:
        jobs: dict[asyncio.Task[None], Task] = {}
        watchdog = LoopWatchdog(jobs.get, threshold=0.2, interval=0.05)
        beat = asyncio.create_task(watchdog.run())
        await asyncio.sleep(0.1)

        async def stall(*steps: str | None) -> None:
            started = []
            for i, step in enumerate(steps):
                job = asyncio.create_task(_block(0.4))
                if step is not None:
                    jobs[job] = _task(step, i)
                started.append(job)
            await asyncio.wait(started)
            await asyncio.sleep(0.2)  # the beat notices the stall is over

        await stall("charge", "ship")  # two steps in one stall: both named
        await stall("charge", "charge")  # named already
        await stall(None)  # not a handler
        await stall(None)
        beat.cancel()

    asyncio.run(main())
    by_step = {getattr(record, "step_slug", None): record for record in blocked}
    assert len(blocked) == 3
    assert set(by_step) == {None, "charge", "ship"}
    for step in ("charge", "ship"):
        record = by_step[step]
        assert record.getMessage() == (
            f"the event loop was blocked for {record.__dict__['seconds']:.1f} s by step"
            f" {step!r}; use a sync handler or await"
        )
        assert record.__dict__["flow_slug"] == "shop"
    assert by_step[None].getMessage() == (
        f"the event loop was stalled for {by_step[None].__dict__['seconds']:.1f} s, not by a"
        " single handler (the worker's own work, a task a handler started, or a busy machine)"
    )
