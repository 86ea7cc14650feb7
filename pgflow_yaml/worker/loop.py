"""The worker's main loop: claim, run, report, heartbeat; stop gracefully.

The loop only schedules: what each call does in the database is the protocol object's
(``worker.protocol``, chosen once at start-up for the core the database holds), which runs
the named queries of ``pgflow_yaml/queries``. One asyncio loop per process and six
connections (claim, two report, housekeeping, listen, schedules; no listen under transaction
pooling without ``listen_dsn``):

- the claim loop keeps up to ``concurrency`` tasks in flight: whenever slots are free it claims
  that many tasks of every served flow (one ``claim_tasks`` call on our core), then waits for a
  wake-up (a ``NOTIFY pgflow_tasks``, a freed slot, a flushed completion) or the poll interval;
- each task runs as its own asyncio task (``runner.run_task``);
- the reporter (``worker.reporter``) sends finished tasks in batches, sending whatever
  accumulated while the previous batch was in the database, so it adds no latency;
- housekeeping heartbeats, requeues stalled tasks of dead workers, times out signal steps
  (``expire_waiting_steps``) and retries sub-flow tasks whose child run failed
  (``start_due_subflows``); the listener wakes the claim loop.

A lost connection keeps every finished result in memory; each link reconnects with backoff and
the reporter sends them once the database is back. A stop request interrupts every reconnect
wait: results that cannot be reported then are logged and left to the core, which requeues
their tasks once their timeout has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from pgflow_yaml import db, metrics, redaction, tracing
from pgflow_yaml.worker import protocol
from pgflow_yaml.worker.errors import DatabaseError, DatabaseUnavailable, InputNotDecodable
from pgflow_yaml.worker.reporter import Reporter
from pgflow_yaml.worker.runner import (
    Context,
    Failure,
    Handler,
    Outcome,
    Task,
    decode_input,
    run_task,
    task_fields,
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
        claim_connections: claims that may be in the database at once (one by default). With
            two, the slots freed while a claim waits for its answer are claimed on a second
            connection (opened only once the worker is busy); on the shared 2-core benchmark
            machine that measured no gain (bench/README.md, 2026-12-01, claim side).
        transaction_pooling: the DSN reaches PostgreSQL through a transaction-mode pooler
            (PgBouncer): no prepared statements, no session ``SET`` (commits stay durable
            unless the login's own settings relax them) and no ``LISTEN`` through it. ``None``
            (the default): ``PGFLOW_TRANSACTION_POOLING`` decides (``db.transaction_pooling``).
        listen_dsn: a direct (session) connection to the same database for ``LISTEN`` only.
            Under transaction pooling without it the worker does not listen: it claims every
            ``poll_interval`` seconds and after each of its own batches.
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
    claim_connections: int = 1
    transaction_pooling: bool | None = None
    listen_dsn: str | None = None


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
        self._pooled = pooled = db.transaction_pooling(opts.transaction_pooling)
        relaxed = not opts.durable_commits and not pooled  # a session SET: not through a pooler
        self._claims = [
            Link(self.dsn, name, stopping, relaxed_commit=relaxed, pooled=pooled)
            for name in ["claim", *(f"claim-{i}" for i in range(1, opts.claim_connections))]
        ]
        self._reports = [
            Link(self.dsn, f"report-{i}", stopping, relaxed_commit=relaxed, pooled=pooled)
            for i in range(max(1, opts.report_connections))
        ]
        self._house = Link(self.dsn, "housekeeping", stopping, pooled=pooled)
        if opts.listen_dsn:
            redaction.remember_dsn(opts.listen_dsn)
        self._listen_link = Link(opts.listen_dsn or self.dsn, "listen", stopping)
        self.protocol = await protocol.detect(
            self._house, self.worker_id, self.flow_slugs, opts.visibility
        )
        self._reserved = 0  # slots held for claims in the database right now
        self._batch = opts.batch_size or opts.concurrency
        self.reporter = Reporter(
            self._reports,
            self.protocol,
            self._on_flushed,
            claim=(self._reserve_for_report, self._claimed_by_report),
        )
        await self.protocol.register(
            self._house, f"pgflow-yaml@{socket.gethostname()}:{os.getpid()}"
        )
        log.info(
            "worker started",
            extra={
                "action": "worker_started",
                "worker_id": self.worker_id,
                "flows": self.flow_slugs,
                "concurrency": opts.concurrency,
                **({"transaction_pooling": True} if pooled else {}),
            },
        )
        listens = not pooled or bool(opts.listen_dsn)
        if not listens:
            log.info(
                "transaction pooling and no listen DSN: no LISTEN, claims poll instead",
                extra={"action": "listen_disabled", "poll_interval": opts.poll_interval},
            )
        self._reporting = asyncio.create_task(self.reporter.run(), name="reporter")
        helpers = [
            self._reporting,
            *([asyncio.create_task(self._listen(), name="listener")] if listens else []),
            asyncio.create_task(self._housekeeping(), name="housekeeping"),
            *self._schedule_firing(stopping),
            asyncio.create_task(LoopWatchdog(self._in_flight.get).run(), name="watchdog"),
        ]
        try:
            await self._claim_loop()
        finally:
            await self._shut_down(helpers)

    def _schedule_firing(self, stopping: asyncio.Event) -> list[asyncio.Task[None]]:
        """Return the task that fires this worker's flows' schedules (none where the core has
        no schedules, as pgflow 0.8.1)."""
        if not self.protocol.fires_schedules:
            return []
        firer = ScheduleFirer(self.dsn, self.protocol, stopping, pooled=self._pooled)
        return [asyncio.create_task(firer.run(), name="schedules")]

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
                    "tasks": [task_fields(o.task) for o in self.reporter.unsent],
                },
            )
        for helper in helpers:
            helper.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        await self._release()
        with contextlib.suppress(DatabaseError, TimeoutError):
            await asyncio.wait_for(self.protocol.mark_stopped(self._house), 5.0)
        for link in (*self._claims, *self._reports, self._house, self._listen_link):
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
            await asyncio.wait_for(self.protocol.release(self._house), 5.0)
        except (DatabaseError, TimeoutError) as exc:
            log.warning(
                "could not release tasks", extra={"action": "release_failed", "error": str(exc)}
            )

    # -- claiming and running ---------------------------------------------------------------

    async def _claim_loop(self) -> None:
        """Keep the slots filled: claim whenever enough are free, on an idle claim link.

        Up to ``claim_connections`` claims are in the database at once; their slots are
        reserved until they return. A claim that returns fewer tasks than it asked for means
        the queues are drained: no new claim starts until the running ones returned and a
        wake-up (or the poll interval) came.
        """
        opts = self.options
        assert self._stopping is not None
        batch = self._batch
        self._refill = refill = max(1, opts.concurrency // 2)
        idle_links = list(reversed(self._claims))  # a link is out of it while it claims
        jobs: set[asyncio.Task[None]] = set()
        self._drained = False
        self._drained_seq = 0
        self._claim_error: BaseException | None = None
        seq = 0
        gathered = False
        while not self._stopping.is_set():
            if self._claim_error is not None:
                raise self._claim_error
            free = self._free_slots()
            claiming = len(idle_links) < len(self._claims)
            if free <= 0 or (
                claiming and (not idle_links or self._drained or free < min(batch, refill))
            ):
                # no slot, or a claim is out and a second one would be small or pointless:
                # wait for a slot or for that claim (both set _slot_freed)
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            if self._drained:
                self._drained = False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), opts.poll_interval)
                continue
            if self._in_flight and free < min(batch, refill) and not gathered:
                # busy: give other slots a moment to free up, for fewer and larger claims
                # (idle: claim at once; a long task never holds a free slot up for longer)
                gathered = True
                self._slot_freed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._slot_freed.wait(), COALESCE_SECONDS)
                continue
            gathered = False
            self._wake.clear()
            qty = min(free, batch)
            self._reserved += qty
            link = idle_links.pop()
            seq += 1
            job = asyncio.create_task(self._claim_on(link, qty, seq, idle_links))
            jobs.add(job)
            job.add_done_callback(jobs.discard)
            if len(self._claims) == 1:
                await asyncio.wait({job})
        if jobs:
            await asyncio.wait(jobs)
        if self._claim_error is not None:
            raise self._claim_error

    async def _claim_on(self, link: Link, qty: int, seq: int, idle_links: list[Link]) -> None:
        """Claim up to ``qty`` tasks on ``link`` and start them; give the link back after.

        ``seq`` numbers the claims as they start: whether the queues look drained is the
        answer of the latest one that returned.
        """
        rows: list[dict[str, Any]] = []
        answered = False
        try:
            rows = await self.protocol.claim(link, qty)
            answered = True
            await tracing.claimed(link, rows)
        except DatabaseUnavailable as exc:
            assert self._stopping is not None
            if not self._stopping.is_set():
                log.warning("claim failed", extra={"action": "claim_failed", "error": str(exc)})
            # the next claim on this link reconnects, with backoff
        except Exception as exc:  # the database refused the claim: the loop raises it
            self._claim_error = exc
        finally:
            self._reserved -= qty
            for row in rows:
                self._accept(row)
            if answered and seq > self._drained_seq:
                self._drained_seq = seq
                self._drained = len(rows) < qty
            idle_links.append(link)
            self._slot_freed.set()

    def _free_slots(self) -> int:
        """Return the slots free for new tasks: concurrency less the tasks in flight, the
        claims under way and the results beyond one round not yet stored."""
        backlog = max(0, self.reporter.pending - self.options.concurrency)
        return self.options.concurrency - len(self._in_flight) - self._reserved - backlog

    def _reserve_for_report(self, batch: list[Outcome]) -> int:
        """Return how many tasks the report of ``batch`` claims in the same call
        (``complete_and_claim``), holding that many slots until :meth:`_claimed_by_report`.

        Only on an idle worker: a lone result, no other task running, no claim out, not
        stopping. That is the hand-off from one step to the next, which then costs one
        database call instead of a report, its wake-up and a claim; a busy worker claims in
        its claim loop as before (claiming in every report measured no gain there).
        """
        assert self._stopping is not None
        if (
            self._stopping.is_set()
            or len(batch) != 1
            or batch[0].failure is not None
            or self._reserved
            or any(not job.done() for job in self._in_flight)
        ):
            return 0
        backlog = max(0, self.reporter.pending - self.options.concurrency)
        qty = max(0, min(self.options.concurrency - backlog, self._batch))
        self._reserved += qty
        return qty

    async def _claimed_by_report(self, link: Link, rows: list[dict[str, Any]], qty: int) -> None:
        """Start the tasks a report claimed, and give back the slots it had reserved.

        Once stopping, claimed tasks are not started: the in-flight tasks may already have
        been waited for, and ``release_tasks`` at the end of the stop hands these back.
        """
        try:
            await tracing.claimed(link, rows)
        finally:
            self._reserved -= qty
            self._slot_freed.set()  # a claim loop waiting for slots counts again
        assert self._stopping is not None
        if self._stopping.is_set():
            return
        for row in rows:
            self._accept(row)

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
                extra={"action": "task_input_rejected", **task_fields(task), "error": str(exc)},
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
        fields = task_fields(task)
        handler = self.handlers.get((task.flow_slug, task.step_slug))
        log.info("task started", extra={"action": "task_started", **fields})
        metrics.task_started(task)
        span = tracing.start_task(task)
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
        metrics.task_finished(outcome)
        tracing.end_task(span, outcome)
        self.reporter.add(outcome)

    def _context(self, task: Task) -> Context:
        logger = logging.LoggerAdapter(
            logging.getLogger(f"pgflow_yaml.handler.{task.flow_slug}.{task.step_slug}"),
            {"action": "handler_log", **task_fields(task)},
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

    def _on_flushed(self) -> None:
        """Wake the claim loop after each flushed batch: completions start dependent steps
        (called by the reporter itself: no relay task in between)."""
        self._wake.set()
        self._slot_freed.set()

    async def _listen(self) -> None:
        slugs = set(self.flow_slugs)
        assert self._stopping is not None
        while not self._stopping.is_set():
            try:
                conn = await self._listen_link.connection()
                await self.protocol.listen(self._listen_link)
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
                await self.protocol.heartbeat(self._house)
                if loop.time() >= next_requeue:
                    next_requeue = loop.time() + opts.requeue_interval
                    count = await self.protocol.requeue_stalled(self._house)
                    if count:
                        log.warning(
                            "requeued stalled tasks",
                            extra={"action": "stalled_requeued", "requeued": count},
                        )
                        self._wake.set()
                    await self.protocol.expire_waiting_steps(self._house)
                    await self.protocol.start_due_subflows(self._house)
            except DatabaseError as exc:
                log.warning(
                    "housekeeping failed",
                    extra={"action": "housekeeping_failed", "error": str(exc)},
                )
            await asyncio.sleep(opts.heartbeat_interval)
