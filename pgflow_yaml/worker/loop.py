"""The worker's main loop: claim, run, report, heartbeat; stop gracefully.

One asyncio loop per process and five connections (claim, two report, housekeeping, listen):

- the claim loop keeps up to ``concurrency`` tasks in flight: whenever slots are free it claims
  that many tasks of every served flow in one ``claim_tasks`` call, then waits for a wake-up
  (a ``NOTIFY pgflow_tasks``, a freed slot, a flushed completion) or the poll interval;
- each task runs as its own asyncio task (``runner.run_task``);
- the reporter sends finished tasks in batches (``complete_tasks``/``fail_tasks``), sending
  whatever accumulated while the previous batch was in the database, so it adds no latency;
- housekeeping heartbeats and requeues stalled tasks of dead workers; the listener wakes the
  claim loop.

A lost connection keeps every finished result in memory; each link reconnects with backoff and
the reporter sends them once the database is back. A stop request interrupts every reconnect
wait: results that cannot be reported then are logged and left to the core, which requeues
their tasks once their timeout has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pgflow_yaml import redaction
from pgflow_yaml.worker.errors import (
    CoreMissing,
    DatabaseError,
    DatabaseUnavailable,
    InputNotDecodable,
)
from pgflow_yaml.worker.runner import (
    Context,
    Failure,
    Handler,
    Outcome,
    Task,
    decode_input,
    run_task,
)
from pgflow_yaml.worker.schedules import ScheduleFirer
from pgflow_yaml.worker.store import Link
from pgflow_yaml.worker.threads import DaemonPool
from pgflow_yaml.worker.watchdog import LoopWatchdog

log = logging.getLogger("pgflow_yaml.worker")

COALESCE_SECONDS = 0.01
"""How long a busy worker waits for more free slots before claiming for only a few."""


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker behaves.

    Attributes:
        concurrency: tasks in flight at most.
        batch_size: tasks claimed per call at most (default: ``concurrency``).
        poll_interval: seconds between claims when no wake-up arrives (delayed tasks, fallback).
        heartbeat_interval: seconds between heartbeats.
        requeue_interval: seconds between calls of ``requeue_stalled_tasks``.
        grace_period: seconds in-flight tasks get to finish once a stop is requested.
        visibility: seconds a claimed message stays invisible before ``start`` marks it started.
        durable_commits: wait for the WAL flush on every claim and report (slower; see
            ``store.Link``); off by default.
        report_connections: connections sending results in parallel (two: a batch is stored
            while the next one is sent, about 20% more tasks/s than one on a busy worker).
    """

    concurrency: int = 10
    batch_size: int | None = None
    poll_interval: float = 1.0
    heartbeat_interval: float = 5.0
    requeue_interval: float = 10.0
    grace_period: float = 10.0
    visibility: int = 5
    durable_commits: bool = False
    report_connections: int = 2


class Reporter:
    """Send finished tasks to the database in batches, keeping them until they are accepted.

    Each link is one sender: a batch is whatever accumulated while the previous one was in
    the database, so reporting adds no latency when idle and amortises commits when busy.
    Several links send batches in parallel (the database works on them on several cores).
    """

    def __init__(
        self,
        links: list[Link],
        on_flushed: asyncio.Event,
        max_batch: int = 200,
        *,
        legacy: bool = False,
    ) -> None:
        self._links = links
        self._legacy = legacy
        self._pending: list[Outcome] = []
        self._sending: list[list[Outcome]] = []  # the batches in the database right now
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._on_flushed = on_flushed
        self._max_batch = max_batch
        self.sent = 0

    def add(self, outcome: Outcome) -> None:
        """Queue an outcome for the next batch."""
        self._pending.append(outcome)
        self._idle.clear()
        self._ready.set()

    @property
    def pending(self) -> int:
        """Return how many outcomes are not yet accepted by the database."""
        return len(self._pending) + sum(map(len, self._sending))

    async def flushed(self) -> None:
        """Wait until everything queued so far has been accepted by the database."""
        await self._idle.wait()

    async def run(self) -> None:
        """Send batches, one sender per link, until cancelled or the links give up.

        A link gives up only when the worker is stopping and the database cannot be reached;
        the results not yet sent stay in ``unsent``.
        """
        await asyncio.gather(*(self._sender(link) for link in self._links))

    @property
    def unsent(self) -> list[Outcome]:
        """Return the outcomes not yet accepted: those being sent, then those waiting."""
        return [o for batch in self._sending for o in batch] + self._pending

    async def _sender(self, link: Link) -> None:
        while True:
            await self._ready.wait()
            if not self._pending:
                self._ready.clear()
                continue
            batch = self._pending[: self._max_batch]
            del self._pending[: len(batch)]
            self._sending.append(batch)
            try:
                await self._send(link, batch)
            except DatabaseUnavailable as exc:
                self._sent(batch)
                self._pending[:0] = batch  # keep them, first in line
                self._ready.set()  # another sender may be waiting for work (or must give up)
                log.warning(
                    "results kept until the database is back",
                    extra={"action": "report_deferred", "pending": self.pending, "error": str(exc)},
                )
                try:
                    await link.connection()  # waits, with backoff, for the database
                except DatabaseUnavailable:
                    return  # the worker is stopping and the database is still away
                continue
            except Exception as exc:  # a bug must not silence reporting for good
                log.exception(
                    "could not report a batch; its tasks will be requeued as stalled",
                    extra={"action": "report_failed", "tasks": len(batch), "error": str(exc)},
                )
                self._sent(batch)
                batch = []  # dropped: counted as neither pending nor sent
            else:
                self._sent(batch)
            self.sent += len(batch)
            self._on_flushed.set()
            if not self._pending and not self._sending:
                self._idle.set()

    def _sent(self, batch: list[Outcome]) -> None:
        """Forget a batch that is no longer in the database's hands."""
        self._sending[:] = [b for b in self._sending if b is not batch]

    async def _send(self, link: Link, batch: list[Outcome]) -> None:
        if self._legacy:
            await self._send_one_by_one(link, batch)
            return
        done = [o for o in batch if o.failure is None]
        failed = [o for o in batch if o.failure is not None]
        if done:
            await self._send_group(link, "complete_tasks", done)
        if failed:
            await self._send_group(link, "fail_tasks", failed)

    async def _send_group(self, link: Link, query: str, group: list[Outcome]) -> None:
        """Send outcomes of one kind; if the database refuses the batch, find which one."""
        try:
            if query == "complete_tasks":
                await link.fetch(query, {"results": _results_json(group)})
            else:
                await link.fetch(query, {"failures": _failures_json(group)})
        except DatabaseUnavailable:
            raise
        except DatabaseError as exc:
            if len(group) == 1:
                await self._rejected(link, group[0], exc)
                return
            for outcome in group:
                await self._send_group(link, query, [outcome])

    async def _send_one_by_one(self, link: Link, batch: list[Outcome]) -> None:
        """Report with pgflow 0.8.1's single-task calls (no attempt fencing, no error type)."""
        for o in batch:
            try:
                if o.failure is None:
                    params = {**_key(o.task), "output": o.output_json}
                    await link.fetch("complete_task_081", params)
                else:
                    params = {**_key(o.task), "error_message": o.failure.message}
                    await link.fetch("fail_task_081", params)
            except DatabaseUnavailable:
                raise
            except DatabaseError as exc:
                log.error(
                    "the database refused a task result",
                    extra={"action": "report_refused", **_task_fields(o.task), "error": str(exc)},
                )

    async def _rejected(self, link: Link, outcome: Outcome, exc: DatabaseError) -> None:
        task = outcome.task
        log.error(
            "the database refused a task result",
            extra={"action": "report_refused", **_task_fields(task), "error": str(exc)},
        )
        if outcome.failure is None:  # e.g. a string jsonb cannot hold: fail the task instead
            failure = Failure(
                f"step {task.step_slug!r}: the database refused the output: {exc}",
                "OutputRejected",
                None,
                retryable=True,
            )
            await self._send_group(link, "fail_tasks", [Outcome(task, failure=failure)])


def _key(task: Task) -> dict[str, Any]:
    return {"run_id": task.run_id, "step_slug": task.step_slug, "task_index": task.task_index}


def _key_fields(task: Task) -> str:
    fence = f',"start_seq":{task.start_seq}' if task.start_seq is not None else ""
    return (
        f'"run_id":{json.dumps(task.run_id)},"step_slug":{json.dumps(task.step_slug)},'
        f'"task_index":{task.task_index},"attempt":{task.attempt}{fence}'
    )


def _results_json(done: Iterable[Outcome]) -> str:
    return "[" + ",".join(f'{{{_key_fields(o.task)},"output":{o.output_json}}}' for o in done) + "]"


def _failures_json(failed: Iterable[Outcome]) -> str:
    items = []
    for o in failed:
        f = o.failure
        assert f is not None
        items.append(
            {
                "run_id": o.task.run_id,
                "step_slug": o.task.step_slug,
                "task_index": o.task.task_index,
                "attempt": o.task.attempt,
                "start_seq": o.task.start_seq,
                "error_message": f.message,
                "error_type": f.type,
                "error_traceback": f.traceback,
                "retryable": f.retryable,
            }
        )
    return json.dumps(items, ensure_ascii=False)


def _task_fields(task: Task) -> dict[str, Any]:
    return {
        "flow_slug": task.flow_slug,
        "run_id": task.run_id,
        "step_slug": task.step_slug,
        "task_index": task.task_index,
        "attempt": task.attempt,
    }


class Worker:
    """Serve the tasks of several flows from one process."""

    def __init__(
        self,
        dsn: str,
        handlers: dict[tuple[str, str], Handler],
        options: WorkerOptions | None = None,
        *,
        worker_id: str | None = None,
        timeouts: dict[tuple[str, str], int] | None = None,
    ) -> None:
        self.dsn = dsn
        redaction.remember_dsn(dsn)  # never in a log line or a recorded error
        self.timeouts = timeouts or {}
        self.legacy = False
        self.handlers = handlers
        self.options = options or WorkerOptions()
        self.worker_id = worker_id or str(uuid.uuid4())
        self.flow_slugs = sorted({flow for flow, _ in handlers})
        self.shutdown_event = threading.Event()
        self.completed = 0
        self.failed = 0
        self._in_flight: dict[asyncio.Task[None], Task] = {}
        self._pool = DaemonPool()
        self._stopping: asyncio.Event | None = None
        self._signals = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self) -> None:
        """Register, serve until ``stop()`` (or a signal), then stop gracefully.

        Raises:
            DatabaseError: the database refused to register the worker.
        """
        opts = self.options
        self._stopping = stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._flushed = asyncio.Event()
        relaxed = not opts.durable_commits
        self._claim = Link(self.dsn, "claim", stopping, relaxed_commit=relaxed)
        self._reports = [
            Link(self.dsn, f"report-{i}", stopping, relaxed_commit=relaxed)
            for i in range(max(1, opts.report_connections))
        ]
        self._house = Link(self.dsn, "housekeeping", stopping)
        self._listen_link = Link(self.dsn, "listen", stopping)
        self.legacy = await self._detect_legacy()
        self.reporter = Reporter(self._reports, self._flushed, legacy=self.legacy)
        await self._house.fetch(
            "register_worker_081" if self.legacy else "register_worker",
            {
                "worker_id": self.worker_id,
                "queue_name": ",".join(self.flow_slugs),
                "function_name": f"pgflow-yaml@{socket.gethostname()}:{os.getpid()}",
            },
        )
        log.info(
            "worker started",
            extra={
                "action": "worker_started",
                "worker_id": self.worker_id,
                "flows": self.flow_slugs,
                "concurrency": opts.concurrency,
            },
        )
        self._reporting = asyncio.create_task(self.reporter.run(), name="reporter")
        helpers = [
            self._reporting,
            asyncio.create_task(self._listen(), name="listener"),
            asyncio.create_task(self._housekeeping(), name="housekeeping"),
            *self._schedule_firing(stopping),
            asyncio.create_task(self._relay_flushes(), name="flush-relay"),
            asyncio.create_task(LoopWatchdog(self._in_flight.get).run(), name="watchdog"),
        ]
        try:
            await self._claim_loop()
        finally:
            await self._shut_down(helpers)

    def _schedule_firing(self, stopping: asyncio.Event) -> list[asyncio.Task[None]]:
        """Return the task that fires this worker's flows' schedules (none on pgflow 0.8.1)."""
        if self.legacy:
            return []
        firer = ScheduleFirer(self.dsn, self.flow_slugs, stopping)
        return [asyncio.create_task(firer.run(), name="schedules")]

    async def _detect_legacy(self) -> bool:
        """Return True on a database with only pgflow 0.8.1's worker calls.

        Raises:
            CoreMissing: the database has no pgflow core at all.
        """
        if (await self._house.fetch("core_installed"))[0]["installed"]:
            return False
        if (await self._house.fetch("legacy_core"))[0]["present"]:
            log.warning(
                "pgflow 0.8.1 core: serving with its single-task calls and polling",
                extra={"action": "legacy_protocol"},
            )
            return True
        raise CoreMissing("this database has no pgflow core (run `pgflow install`)")

    def stop(self) -> None:
        """Ask the worker to stop: no new claims; in-flight tasks get the grace period."""
        self.shutdown_event.set()
        if self._stopping is not None and not self._stopping.is_set():
            log.info("stopping", extra={"action": "stopping_worker", "worker_id": self.worker_id})
            self._stopping.set()
            self._wake.set()
            self._slot_freed.set()

    def install_signal_handlers(self) -> None:
        """Stop on the first SIGINT/SIGTERM; exit at once on the second."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        if self._signals > 1:
            log.warning(
                "second signal: exiting at once",
                extra={
                    "action": "worker_killed",
                    "signal": sig.name,
                    "in_flight": len(self._in_flight),
                },
            )
            logging.shutdown()
            os._exit(1)
        log.info("signal received", extra={"action": "signal_received", "signal": sig.name})
        self.stop()

    async def _shut_down(self, helpers: list[asyncio.Task[None]]) -> None:
        opts = self.options
        self.stop()
        if self._in_flight:
            log.info(
                "waiting for in-flight tasks",
                extra={
                    "action": "draining",
                    "in_flight": len(self._in_flight),
                    "grace_period": opts.grace_period,
                },
            )
            _, late = await asyncio.wait(list(self._in_flight), timeout=opts.grace_period)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        flushed = asyncio.create_task(self.reporter.flushed())
        await asyncio.wait(
            {flushed, self._reporting},  # the reporter ends early if the database is away
            timeout=max(opts.grace_period, 5.0),
            return_when=asyncio.FIRST_COMPLETED,
        )
        flushed.cancel()
        if self.reporter.pending:
            log.error(
                "could not report every result before exiting; the core requeues these tasks"
                " once their timeout has passed",
                extra={
                    "action": "report_abandoned",
                    "pending": self.reporter.pending,
                    "tasks": [_task_fields(o.task) for o in self.reporter.unsent],
                },
            )
        for helper in helpers:
            helper.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        if not self.legacy:  # on 0.8.1 the tasks come back when their visibility expires
            await self._release()
        with contextlib.suppress(DatabaseError, TimeoutError):
            await asyncio.wait_for(
                self._house.fetch("mark_worker_stopped", {"worker_id": self.worker_id}), 5.0
            )
        for link in (self._claim, *self._reports, self._house, self._listen_link):
            await link.close()
        self._pool.shutdown()
        log.info(
            "worker stopped",
            extra={
                "action": "worker_stopped",
                "worker_id": self.worker_id,
                "completed": self.completed,
                "failed": self.failed,
            },
        )

    async def _release(self) -> None:
        """Hand the tasks this worker still holds back to the queue."""
        try:
            rows = await asyncio.wait_for(
                self._house.fetch("release_tasks", {"worker_id": self.worker_id}), 5.0
            )
        except (DatabaseError, TimeoutError) as exc:
            log.warning(
                "could not release tasks", extra={"action": "release_failed", "error": str(exc)}
            )
            return
        released = rows[0]["released"] if rows else 0
        log.info("released tasks", extra={"action": "tasks_released", "released": released})

    # -- claiming and running ---------------------------------------------------------------

    async def _claim_loop(self) -> None:
        opts = self.options
        assert self._stopping is not None
        batch = opts.batch_size or opts.concurrency
        self._refill = max(1, opts.concurrency // 2)
        gathered = False
        while not self._stopping.is_set():
            backlog = max(0, self.reporter.pending - opts.concurrency)  # results not yet stored
            free = opts.concurrency - len(self._in_flight) - backlog
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            if self._in_flight and free < min(batch, self._refill) and not gathered:
                # busy: give other slots a moment to free up, for fewer and larger claims
                # (idle: claim at once; a long task never holds a free slot up for longer)
                gathered = True
                self._slot_freed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._slot_freed.wait(), COALESCE_SECONDS)
                continue
            gathered = False
            self._wake.clear()
            try:
                rows = await self._claim_batch(min(free, batch))
            except DatabaseUnavailable as exc:
                if self._stopping.is_set():
                    break
                log.warning("claim failed", extra={"action": "claim_failed", "error": str(exc)})
                continue  # the next fetch reconnects, with backoff
            for row in rows:
                self._accept(row)
            if len(rows) < min(free, batch):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), opts.poll_interval)

    async def _claim_batch(self, qty: int) -> list[dict[str, Any]]:
        params: dict[str, Any] = {
            "worker_id": self.worker_id,
            "qty": qty,
            "vt": self.options.visibility,
        }
        if not self.legacy:
            return await self._claim.fetch("claim_tasks", params | {"flow_slugs": self.flow_slugs})
        rows: list[dict[str, Any]] = []
        for slug in self.flow_slugs:  # 0.8.1 has one queue per call
            params["qty"] = qty - len(rows)
            if params["qty"] <= 0:
                break
            rows += await self._claim.fetch("claim_tasks_081", params | {"flow_slug": slug})
        return rows

    def _accept(self, row: dict[str, Any]) -> None:
        """Start the task of a claimed row, or fail it at once if its input cannot be decoded."""
        timeout = row["timeout"] or self.timeouts.get((row["flow_slug"], row["step_slug"]))
        fields = {"run_id": str(row["run_id"]), "timeout": timeout, "input": None}
        try:
            fields["input"] = decode_input(row["input"])
        except InputNotDecodable as exc:
            task = Task(**row | fields)
            self.failed += 1
            log.error(
                "task input could not be decoded",
                extra={"action": "task_input_rejected", **_task_fields(task), "error": str(exc)},
            )
            failure = Failure(str(exc), "InputNotDecodable", None, retryable=False)
            self.reporter.add(Outcome(task, failure=failure))
            return
        self._start(Task(**row | fields))

    def _start(self, task: Task) -> None:
        job = asyncio.create_task(self._execute(task))
        self._in_flight[job] = task
        job.add_done_callback(self._finished)

    def _finished(self, job: asyncio.Task[None]) -> None:
        self._in_flight.pop(job, None)
        self._slot_freed.set()

    async def _execute(self, task: Task) -> None:
        fields = _task_fields(task)
        handler = self.handlers.get((task.flow_slug, task.step_slug))
        log.info("task started", extra={"action": "task_started", **fields})
        if handler is None:
            failure = Failure(
                f"this worker has no handler for step {task.step_slug!r} of flow "
                f"{task.flow_slug!r}",
                "HandlerMissing",
                None,
                retryable=True,
            )
            outcome = Outcome(task, failure=failure)
        else:
            ctx = self._context(task) if handler.wants_ctx else None
            outcome = await run_task(task, handler, ctx, self._pool)
        seconds = round(outcome.seconds, 4)
        if outcome.failure is None:
            self.completed += 1
            log.info(
                "task completed", extra={"action": "task_completed", **fields, "seconds": seconds}
            )
        else:
            self.failed += 1
            log.warning(
                "task failed",
                extra={
                    "action": "task_timed_out"
                    if outcome.failure.type == "TaskTimeout"
                    else "task_failed",
                    **fields,
                    "seconds": seconds,
                    "error_type": outcome.failure.type,
                    "error": outcome.failure.message,
                    "retryable": outcome.failure.retryable,
                },
            )
        self.reporter.add(outcome)

    def _context(self, task: Task) -> Context:
        logger = logging.LoggerAdapter(
            logging.getLogger(f"pgflow_yaml.handler.{task.flow_slug}.{task.step_slug}"),
            {"action": "handler_log", **_task_fields(task)},
        )
        return Context(
            run_id=task.run_id,
            flow_slug=task.flow_slug,
            step_slug=task.step_slug,
            task_index=task.task_index,
            attempt=task.attempt,
            worker_id=self.worker_id,
            logger=logger,
            shutdown=self.shutdown_event,
            _dsn=self.dsn,
        )

    # -- helpers ---------------------------------------------------------------------------

    async def _relay_flushes(self) -> None:
        """Wake the claim loop after each flushed batch: completions start dependent steps."""
        while True:
            await self._flushed.wait()
            self._flushed.clear()
            self._wake.set()
            self._slot_freed.set()

    async def _listen(self) -> None:
        slugs = set(self.flow_slugs)
        assert self._stopping is not None
        while not self._stopping.is_set():
            try:
                conn = await self._listen_link.connection()
                await self._listen_link.fetch("listen_tasks")
                self._wake.set()  # anything sent while we were not listening
                async for note in conn.notifies():
                    if note.payload in slugs or not note.payload:
                        self._wake.set()
            except DatabaseUnavailable:
                await self._listen_link.close()
            except Exception as exc:  # a broken socket surfaces as various driver errors
                log.warning("listener failed", extra={"action": "listen_failed", "error": str(exc)})
                await self._listen_link.close()
                await asyncio.sleep(0.1)

    async def _housekeeping(self) -> None:
        opts = self.options
        loop = asyncio.get_running_loop()
        next_requeue = loop.time()
        while True:
            try:
                heartbeat = "heartbeat_081" if self.legacy else "heartbeat"
                await self._house.fetch(heartbeat, {"worker_id": self.worker_id})
                if not self.legacy and loop.time() >= next_requeue:
                    next_requeue = loop.time() + opts.requeue_interval
                    rows = await self._house.fetch("requeue_stalled_tasks")
                    count = next(iter(rows[0].values())) if rows else 0
                    if count:
                        log.warning(
                            "requeued stalled tasks",
                            extra={"action": "stalled_requeued", "requeued": count},
                        )
                        self._wake.set()
            except DatabaseError as exc:
                log.warning(
                    "housekeeping failed",
                    extra={"action": "housekeeping_failed", "error": str(exc)},
                )
            await asyncio.sleep(opts.heartbeat_interval)
