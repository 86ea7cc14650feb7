"""The worker's calls to the database: one object per core protocol.

The loop (``worker.loop``) decides when to claim, report, heartbeat, requeue and release; a
protocol object decides how, by running the named queries of ``pgflow_yaml/queries/worker.sql``
on the link (connection) the loop gives it. It is chosen once, at start-up, by :func:`detect`:

- ``CoreProtocol``, the pgflow-yaml core: one ``claim_tasks`` call for every served flow,
  results in batches (``complete_tasks`` / ``fail_tasks``) fenced by ``start_seq``, tasks
  released when the worker stops, stalled tasks requeued by the workers themselves;
- ``Pgflow081Protocol``, a pgflow 0.8.1 core: ``pgmq.read`` + ``start_tasks`` per flow, one
  ``complete_task`` / ``fail_task`` call per result, no release (its tasks come back when their
  visibility expires) and no requeue of stalled tasks.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from pgflow_yaml.worker.errors import CoreMissing, DatabaseError, DatabaseUnavailable
from pgflow_yaml.worker.runner import Failure, Outcome, Task, task_fields
from pgflow_yaml.worker.store import Link

log = logging.getLogger("pgflow_yaml.worker")


class WorkerProtocol:
    """What a worker asks of the database; each subclass says how, for one core.

    Every method runs on the link it is given and raises ``DatabaseUnavailable`` when that
    connection breaks (``DatabaseError`` when the database refuses a call), unless it says
    otherwise.
    """

    register_query: ClassVar[str]
    """The query that records the worker (``worker_id``, ``queue_name``, ``function_name``)."""
    heartbeat_query: ClassVar[str]
    """The query that refreshes the worker's heartbeat (``worker_id``)."""
    fires_schedules: ClassVar[bool] = False
    """Whether the core has schedules (``list_schedules``, ``fire_schedules``)."""

    def __init__(self, worker_id: str, flow_slugs: Sequence[str], visibility: int) -> None:
        self.worker_id = worker_id
        self.flow_slugs = list(flow_slugs)
        self.visibility = visibility
        self._worker = {"worker_id": worker_id}

    async def register(self, link: Link, function_name: str) -> None:
        """Record this worker in ``pgflow.workers`` (its queue name: the served flow slugs)."""
        params = {
            "worker_id": self.worker_id,
            "queue_name": ",".join(self.flow_slugs),
            "function_name": function_name,
        }
        await link.fetch(self.register_query, params)

    async def heartbeat(self, link: Link) -> None:
        """Refresh this worker's ``last_heartbeat_at``."""
        await link.fetch(self.heartbeat_query, self._worker)

    async def claim(self, link: Link, qty: int) -> list[dict[str, Any]]:
        """Start up to ``qty`` visible tasks of the served flows; return their rows."""
        raise NotImplementedError

    async def report(self, link: Link, batch: list[Outcome]) -> None:
        """Store a batch of outcomes; log each one the database refuses (it is not sent again).

        Raises:
            DatabaseUnavailable: the connection broke; the whole batch must be sent again.
        """
        raise NotImplementedError

    async def report_and_claim(
        self, link: Link, batch: list[Outcome], qty: int
    ) -> list[dict[str, Any]] | None:
        """Store a batch and claim up to ``qty`` tasks in one call, where the core can; return
        the claimed rows, or ``None`` when the batch was not sent (the caller sends it with
        :meth:`report` and claims as usual). This base version never sends.

        Raises:
            DatabaseUnavailable: the connection broke; the whole batch must be sent again.
        """
        return None

    async def requeue_stalled(self, link: Link) -> int:
        """Requeue the tasks of workers that died; return how many."""
        raise NotImplementedError

    async def expire_waiting_steps(self, link: Link) -> int:
        """End the signal steps that waited past their timeout; return how many."""
        raise NotImplementedError

    async def start_due_subflows(self, link: Link) -> int:
        """Start the sub-flow tasks whose retry delay is over, each with a new child run, and
        cancel children left running by an ended parent; return how many."""
        raise NotImplementedError

    async def release(self, link: Link) -> None:
        """Hand the tasks this worker still holds back to their queues, and log how many."""
        raise NotImplementedError

    async def mark_stopped(self, link: Link) -> None:
        """Record that this worker stopped."""
        await link.fetch("mark_worker_stopped", self._worker)

    async def listen(self, link: Link) -> None:
        """Subscribe the link's connection to the wake-ups sent when tasks become visible."""
        await link.fetch("listen_tasks")

    async def schedules(self, link: Link) -> list[dict[str, Any]]:
        """Return the served flows' schedules (``list_schedules``: each with ``now_at``, the
        database's clock). Only where ``fires_schedules``."""
        return await link.fetch("list_schedules", {"flow_slugs": self.flow_slugs})

    async def fire_schedules(self, link: Link, now: Any, due: Any) -> list[dict[str, Any]]:
        """Fire the due times ``due`` (JSON) at ``now``; return the fire rows written."""
        return await link.fetch("fire_schedules", {"now": now, "due": due})


class CoreProtocol(WorkerProtocol):
    """The pgflow-yaml core: batched, fenced calls; the worker row belongs to the login."""

    register_query = "register_worker"
    heartbeat_query = "heartbeat"
    fires_schedules = True
    claims_on_report = True
    """Whether the core has ``complete_and_claim`` (``detect`` finds out; older cores do not)."""

    async def claim(self, link: Link, qty: int) -> list[dict[str, Any]]:
        """Read and start tasks of every served flow in one ``claim_tasks`` call."""
        return await link.fetch("claim_tasks", self._claim_params(qty))

    def _claim_params(self, qty: int) -> dict[str, Any]:
        return {
            "worker_id": self.worker_id,
            "qty": qty,
            "vt": self.visibility,
            "flow_slugs": self.flow_slugs,
        }

    async def report(self, link: Link, batch: list[Outcome]) -> None:
        """Send the results, then the failures, each kind in one call.

        A refused batch is split until the refused outcome is found; a refused output fails
        its task instead (e.g. a string jsonb cannot hold).
        """
        done = [o for o in batch if o.failure is None]
        failed = [o for o in batch if o.failure is not None]
        if done:
            await self._send_group(link, "complete_tasks", done)
        if failed:
            await self._send_group(link, "fail_tasks", failed)

    async def report_and_claim(
        self, link: Link, batch: list[Outcome], qty: int
    ) -> list[dict[str, Any]] | None:
        """Send results and claim in one ``complete_and_claim`` call (the tasks they made ready
        among the claimed ones). A batch with a failure is not sent, nor one the database
        refuses (nothing of it is stored then): ``None``, and the caller sends it with
        :meth:`report`, which finds the refused outcome."""
        if not self.claims_on_report or any(o.failure is not None for o in batch):
            return None
        try:
            params = {**self._claim_params(qty), "results": _results_json(batch)}
            return await link.fetch("complete_and_claim", params)
        except DatabaseUnavailable:
            raise
        except DatabaseError:
            return None

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

    async def _rejected(self, link: Link, outcome: Outcome, exc: DatabaseError) -> None:
        task = outcome.task
        _log_refused(task, exc)
        if outcome.failure is None:  # e.g. a string jsonb cannot hold: fail the task instead
            failure = Failure(
                f"step {task.step_slug!r}: the database refused the output: {exc}",
                "OutputRejected",
                None,
                retryable=True,
            )
            await self._send_group(link, "fail_tasks", [Outcome(task, failure=failure)])

    async def requeue_stalled(self, link: Link) -> int:
        """Requeue tasks whose worker died (``requeue_stalled_tasks``)."""
        rows = await link.fetch("requeue_stalled_tasks")
        return (rows[0]["requeued"] or 0) if rows else 0

    async def expire_waiting_steps(self, link: Link) -> int:
        """Time out waiting signal steps (``expire_waiting_steps``)."""
        rows = await link.fetch("expire_waiting_steps")
        return (rows[0]["expired"] or 0) if rows else 0

    async def start_due_subflows(self, link: Link) -> int:
        """Retry sub-flow tasks whose delay is over (``start_due_subflows``)."""
        rows = await link.fetch("start_due_subflows")
        return (rows[0]["started"] or 0) if rows else 0

    async def release(self, link: Link) -> None:
        """Hand back this worker's started tasks without using up an attempt."""
        rows = await link.fetch("release_tasks", self._worker)
        released = rows[0]["released"] if rows else 0
        log.info("released tasks", extra={"action": "tasks_released", "released": released})


class Pgflow081Protocol(WorkerProtocol):
    """A pgflow 0.8.1 core: its single-task calls, one queue per read, no fence; the worker
    row is written directly (0.8.1 has no ``register_worker`` nor ``heartbeat_worker``)."""

    register_query = "register_worker_081"
    heartbeat_query = "heartbeat_081"

    async def claim(self, link: Link, qty: int) -> list[dict[str, Any]]:
        """Read and start tasks flow by flow (0.8.1 reads one queue per call).

        The read and ``start_tasks`` are two statements (see ``start_tasks_081``): in one, a
        task committed while the statement ran could be started and not returned.
        """
        rows: list[dict[str, Any]] = []
        for slug in self.flow_slugs:
            want = qty - len(rows)
            if want <= 0:
                break
            read = {"flow_slug": slug, "vt": self.visibility, "qty": want}
            msg_ids = [m["msg_id"] for m in await link.fetch("read_messages_081", read)]
            if msg_ids:
                start = {"flow_slug": slug, "msg_ids": msg_ids, "worker_id": self.worker_id}
                rows += await link.fetch("start_tasks_081", start)
        return rows

    async def report(self, link: Link, batch: list[Outcome]) -> None:
        """Report one outcome per call (no attempt fencing, no error type)."""
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
                _log_refused(o.task, exc)

    async def requeue_stalled(self, link: Link) -> int:
        """Requeue nothing: 0.8.1 has no stall requeue (its tasks come back when their
        visibility expires)."""
        return 0

    async def expire_waiting_steps(self, link: Link) -> int:
        """Expire nothing: 0.8.1 has no signal steps."""
        return 0

    async def start_due_subflows(self, link: Link) -> int:
        """Start nothing: 0.8.1 has no sub-flow steps."""
        return 0

    async def release(self, link: Link) -> None:
        """Release nothing: 0.8.1's tasks come back when their visibility expires."""


async def detect(
    link: Link, worker_id: str, flow_slugs: Sequence[str], visibility: int
) -> WorkerProtocol:
    """Return the protocol of the core the database holds.

    Raises:
        CoreMissing: the database has no pgflow core at all.
    """
    core = (await link.fetch("core_installed"))[0]
    if core["installed"]:
        found = CoreProtocol(worker_id, flow_slugs, visibility)
        found.claims_on_report = core["complete_and_claim"]
        return found
    if (await link.fetch("legacy_core"))[0]["present"]:
        log.warning(
            "pgflow 0.8.1 core: serving with its single-task calls and polling",
            extra={"action": "legacy_protocol"},
        )
        return Pgflow081Protocol(worker_id, flow_slugs, visibility)
    raise CoreMissing("this database has no pgflow core (run `pgflow install`)")


def _log_refused(task: Task, exc: DatabaseError) -> None:
    log.error(
        "the database refused a task result",
        extra={"action": "report_refused", **task_fields(task), "error": str(exc)},
    )


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
