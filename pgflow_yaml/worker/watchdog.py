"""Notice an ``async def`` handler that blocks the event loop, and name its step.

A blocking call (``time.sleep``, a sync driver, heavy CPU work) inside an ``async def``
handler stops the whole worker while it runs: claims, reports, heartbeats and every other
task. The watchdog is two cheap parts:

- a beat on the loop: a coroutine that wakes every ``BEAT_INTERVAL`` seconds and notes when
  it ran; when it wakes late by ``BLOCK_THRESHOLD`` seconds or more, the loop was blocked;
- a daemon thread that looks at the beat every ``BEAT_INTERVAL`` seconds: while the beat is
  overdue, it notes which asyncio task the loop is running, maps it to its step (at once: a
  finished task is forgotten by the worker), and adds the time since its previous look to
  that step's share of the stall.

When the stall ends, every step whose share reaches ``BLOCK_THRESHOLD`` blocked the loop
(a stall held by one step is charged to it whole). On the first such stall of each step the
beat logs ``loop_blocked`` ("the event loop was blocked for 5.0 s by step 'charge'; use a sync
handler or await"); later stalls of that step are not logged again. A stall no single step
explains (the worker's own work, a task a handler started, a busy machine) is logged once per
process.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from pgflow_yaml.worker.runner import Task

log = logging.getLogger("pgflow_yaml.worker")

BEAT_INTERVAL = 0.1
"""Seconds between two beats of the loop (and two looks of the thread)."""

BLOCK_THRESHOLD = 0.5
"""A beat this many seconds late means the loop was blocked."""


class LoopWatchdog:
    """Log, once per step, that a handler blocked the event loop (see the module docstring).

    Args:
        task_of: returns the claimed task an asyncio task runs, or None for the worker's own;
            called from the watching thread, so it must only read (a dict lookup).
        threshold: seconds of lateness that count as a blocked loop.
        interval: seconds between beats.
    """

    def __init__(
        self,
        task_of: Callable[[asyncio.Task[Any]], Task | None],
        *,
        threshold: float = BLOCK_THRESHOLD,
        interval: float = BEAT_INTERVAL,
    ) -> None:
        self._task_of = task_of
        self._threshold = threshold
        self._interval = interval
        self._beat: tuple[int, float] = (0, time.monotonic())  # (number, when), one assignment
        self._lock = threading.Lock()  # guards the three fields below (thread and loop)
        self._stall = -1  # the beat number the shares belong to
        self._shares: dict[tuple[str, str] | None, float] = {}  # (flow, step): seconds
        self._looked = 0.0
        self._warned: set[tuple[str, str] | None] = set()
        self._done = threading.Event()

    async def run(self) -> None:
        """Beat until cancelled, with the watching thread alongside."""
        loop = asyncio.get_running_loop()
        thread = threading.Thread(
            target=self._watch, args=(loop,), name="pgflow-watchdog", daemon=True
        )
        number = 0
        self._beat = (number, time.monotonic())
        thread.start()
        try:
            while True:
                await asyncio.sleep(self._interval)
                now = time.monotonic()
                late = now - self._beat[1] - self._interval
                if late >= self._threshold:
                    self._stalled(number, late)
                number += 1
                self._beat = (number, now)
        finally:
            self._done.set()

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Thread: while the beat is overdue, charge the time to the task the loop runs."""
        while not self._done.wait(self._interval):
            number, at = self._beat
            now = time.monotonic()
            due = at + self._interval
            if now - due < self._interval:
                continue
            running = asyncio.current_task(loop)
            task = self._task_of(running) if running is not None else None
            step = (task.flow_slug, task.step_slug) if task is not None else None
            with self._lock:
                if self._stall != number:  # a new stall: charge it from its start
                    self._stall, self._shares, self._looked = number, {}, due
                self._shares[step] = self._shares.get(step, 0.0) + now - self._looked
                self._looked = now

    def _stalled(self, number: int, late: float) -> None:
        with self._lock:
            shares = self._shares if self._stall == number else {}
            self._stall, self._shares = -1, {}
        if len(shares) == 1:  # one step held the loop all along: the whole stall is its
            shares = dict.fromkeys(shares, late)
        culprits = {
            step: seconds
            for step, seconds in shares.items()
            if step is not None and seconds >= self._threshold
        }
        if not culprits and None not in self._warned:
            self._warned.add(None)
            seconds = round(late, 1)
            log.warning(
                f"the event loop was stalled for {seconds:.1f} s, not by a single handler"
                " (the worker's own work, a task a handler started, or a busy machine)",
                extra={"action": "loop_blocked", "seconds": seconds},
            )
        for (flow_slug, step_slug), blocked in culprits.items():
            if (flow_slug, step_slug) in self._warned:
                continue
            self._warned.add((flow_slug, step_slug))
            seconds = round(blocked, 1)
            log.warning(
                f"the event loop was blocked for {seconds:.1f} s by step {step_slug!r};"
                " use a sync handler or await",
                extra={
                    "action": "loop_blocked",
                    "flow_slug": flow_slug,
                    "step_slug": step_slug,
                    "seconds": seconds,
                },
            )
