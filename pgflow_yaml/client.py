"""Start runs, wait for them, read their state, cancel and retry them.

``Client`` is synchronous, ``AsyncClient`` its asyncio twin; both run only the named queries of
``pgflow_yaml.queries``. A run's input is checked against its flow's ``input_schema`` before
the run starts when the client knows the flow: pass a ``FlowSpec`` or a flow file path as
``flow``, or register flows with ``flows=[...]`` and then start them by slug.

    with Client(dsn) as client:
        run_id = client.start("flows/orders.yaml", {"order_id": "A-1", "items": []})
        run = client.wait(run_id, timeout=30)
        print(run.status, run.output)
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pgflow_yaml import queries
from pgflow_yaml.db import connect_error, resolve_dsn
from pgflow_yaml.errors import (
    DefinitionError,
    FlowNotFound,
    InvalidInput,
    NestedTooDeep,
    OutputNotJson,
    RunNotFound,
    StartupError,
    UsageError,
    WaitTimeout,
)
from pgflow_yaml.model import FlowSpec
from pgflow_yaml.worker.runner import MAX_INPUT_DEPTH, check_json

TERMINAL = frozenset({"completed", "failed", "cancelled"})
FLOW_SUFFIXES = (".yaml", ".yml", ".toml")

FlowRef = str | Path | FlowSpec


@dataclass(frozen=True)
class StepState:
    """One step of a run, as ``get_run_with_states`` reports it."""

    step_slug: str
    status: str
    remaining_tasks: int | None = None
    initial_tasks: int | None = None
    error_message: str | None = None
    skip_reason: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    failed_at: str | None = None
    skipped_at: str | None = None


@dataclass(frozen=True)
class Run:
    """A run and its step states."""

    run_id: str
    flow_slug: str
    status: str
    input: Any = None
    output: Any = None
    remaining_steps: int | None = None
    started_at: str | None = None
    completed_at: str | None = None
    failed_at: str | None = None
    steps: tuple[StepState, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def finished(self) -> bool:
        """Return True once the run completed, failed or was cancelled."""
        return self.status in TERMINAL

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Run:
        """Build a run from the ``{run, steps}`` document of ``get_run_with_states``."""
        run = data.get("run") or {}
        steps = tuple(
            StepState(
                step_slug=s["step_slug"],
                status=s["status"],
                **{k: s.get(k) for k in _STEP_FIELDS},
            )
            for s in data.get("steps") or []
        )
        return cls(
            run_id=str(run.get("run_id")),
            flow_slug=str(run.get("flow_slug")),
            status=str(run.get("status")),
            input=run.get("input"),
            output=run.get("output"),
            remaining_steps=run.get("remaining_steps"),
            started_at=run.get("started_at"),
            completed_at=run.get("completed_at"),
            failed_at=run.get("failed_at"),
            steps=steps,
            raw=data,
        )

    def to_json(self) -> dict[str, Any]:
        """Return the run as plain JSON data (what ``--json`` prints)."""
        return {
            "run_id": self.run_id,
            "flow_slug": self.flow_slug,
            "status": self.status,
            "input": self.input,
            "output": self.output,
            "remaining_steps": self.remaining_steps,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "failed_at": self.failed_at,
            "steps": [vars(s) for s in self.steps],
        }


_STEP_FIELDS = [f for f in StepState.__dataclass_fields__ if f not in ("step_slug", "status")]


@dataclass(frozen=True)
class RunSummary:
    """One line of ``runs()``."""

    run_id: str
    flow_slug: str
    status: str
    remaining_steps: int | None
    started_at: datetime | None
    completed_at: datetime | None
    failed_at: datetime | None


@dataclass(frozen=True)
class TaskRow:
    """One task of a run (for ``pgflow status``)."""

    step_slug: str
    task_index: int
    status: str
    attempts_count: int
    error_message: str | None
    queued_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    failed_at: datetime | None


@dataclass(frozen=True)
class ScheduleInfo:
    """One schedule of a flow (``pgflow schedules``): its definition, state, next and last fires."""

    flow_slug: str
    name: str
    cron: str
    timezone: str
    input: Any
    overlap: str
    catch_up: str
    enabled: bool
    paused_at: datetime | None
    next_fires: tuple[datetime, ...]
    last_fire_at: datetime | None
    last_outcome: str | None
    last_run_id: str | None
    last_run_status: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any], count: int = 3) -> ScheduleInfo:
        """Build it from a ``list_schedules`` row; the next fires are computed here (UTC)."""
        from pgflow_yaml.schedules import CronError, next_times

        active = row["enabled"] and row["paused_at"] is None
        after = max(row["now_at"], row["settled_until"])
        try:
            upcoming = next_times(row["cron"], row["timezone"], after, count) if active else []
        except (CronError, ValueError, KeyError):
            upcoming = []
        return cls(
            flow_slug=row["flow_slug"],
            name=row["schedule_name"],
            cron=row["cron"],
            timezone=row["timezone"],
            input=row["input"],
            overlap=row["overlap"],
            catch_up=row["catch_up"],
            enabled=row["enabled"],
            paused_at=row["paused_at"],
            next_fires=tuple(upcoming),
            last_fire_at=row["last_fire_at"],
            last_outcome=row["last_outcome"],
            last_run_id=row["last_run_id"] and str(row["last_run_id"]),
            last_run_status=row["last_run_status"],
        )

    def to_json(self) -> dict[str, Any]:
        """Return it as plain JSON data; fire times in the schedule's timezone and in UTC."""
        from pgflow_yaml.schedules import zone

        local = zone(self.timezone)
        return {
            "flow_slug": self.flow_slug,
            "name": self.name,
            "cron": self.cron,
            "timezone": self.timezone,
            "input": self.input,
            "overlap": self.overlap,
            "catch_up": self.catch_up,
            "enabled": self.enabled,
            "paused": self.paused_at is not None,
            "next_fires": [
                {"local": t.astimezone(local).isoformat(), "utc": t.isoformat()}
                for t in self.next_fires
            ],
            "last_fire": None
            if self.last_fire_at is None
            else {
                "at": self.last_fire_at.isoformat(),
                "outcome": self.last_outcome,
                "run_id": self.last_run_id,
                "run_status": self.last_run_status,
            },
        }


def _schedule_params(flow: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"flow_slug": flow, "schedule_name": name, **extra}


class _Flows:
    """The flows a client knows, by slug, for input checks."""

    def __init__(self, flows: Iterable[FlowRef]) -> None:
        self._by_slug: dict[str, FlowSpec] = {}
        for flow in flows:
            self.resolve(flow)

    def resolve(self, flow: FlowRef) -> tuple[str, FlowSpec | None]:
        """Return the slug of ``flow`` and its spec when known (loading a flow file path)."""
        if isinstance(flow, FlowSpec):
            self._by_slug[flow.slug] = flow
            return flow.slug, flow
        text = str(flow)
        if isinstance(flow, Path) or text.endswith(FLOW_SUFFIXES):
            spec = load_flow_file(text)
            self._by_slug[spec.slug] = spec
            return spec.slug, spec
        return text, self._by_slug.get(text)


def load_flow_file(path: str | Path) -> FlowSpec:
    """Load one flow file.

    Raises:
        DefinitionError: the file is missing, invalid or holds no flow.
    """
    from pgflow_yaml.worker.startup import load_flows

    if not Path(path).is_file():
        raise DefinitionError(f"no flow file at {path}")
    try:
        return load_flows([path])[0]
    except StartupError as exc:
        raise DefinitionError(str(exc)) from None


def check_input(flow: FlowSpec | None, value: Any, label: str = "input") -> None:
    """Check that ``value`` is JSON, nested at most ``MAX_INPUT_DEPTH`` levels, and satisfies the
    flow's ``input_schema`` (when it has one).

    Raises:
        InvalidInput: naming every violation, with its place in the input.
    """
    try:
        check_json(value, label, MAX_INPUT_DEPTH)
    except NestedTooDeep as exc:
        raise InvalidInput(str(exc)) from None
    except OutputNotJson as exc:
        raise InvalidInput(f"the run input is not JSON: {exc}") from None
    if flow is None or flow.input_schema is None:
        return
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(flow.input_schema)
    problems = sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
    if problems:
        lines = []
        for error in problems:
            where = "".join(f"[{p!r}]" for p in error.absolute_path)
            lines.append(f"  {label}{where}: {error.message}")
        raise InvalidInput(
            f"the input does not match the input_schema of flow {flow.slug!r}:\n" + "\n".join(lines)
        )


def _run_id(value: str | uuid.UUID) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise RunNotFound(f"{value!r} is not a run id (a UUID)") from None


def _start_params(
    slug: str, input: Any, run_id: str | uuid.UUID | None, idempotency_key: str | None
) -> tuple[str, dict[str, Any]]:
    """Return the query and parameters of one start (keyed only when a key is given: pgflow
    0.8.1's start_flow has no key argument)."""
    params = {"flow_slug": slug, "input": Jsonb(input), "run_id": run_id and _run_id(run_id)}
    if idempotency_key is None:
        return "start_flow", params
    if not isinstance(idempotency_key, str) or not idempotency_key:
        raise UsageError("an idempotency key is a non-empty string")
    return "start_flow_keyed", params | {"idempotency_key": idempotency_key}


def _many_keys(inputs: Sequence[Any], keys: Sequence[str | None] | None) -> list[str | None] | None:
    """Check the idempotency keys of ``start_many``: one (or None) per input."""
    if keys is None:
        return None
    keys = list(keys)
    if len(keys) != len(inputs):
        raise UsageError(f"start_many got {len(inputs)} inputs but {len(keys)} idempotency keys")
    if any(k is not None and (not isinstance(k, str) or not k) for k in keys):
        raise UsageError("an idempotency key is a non-empty string")
    return keys


class Client:
    """Start and control runs (synchronous); see the module docstring for an example."""

    def __init__(self, dsn: str | None = None, *, flows: Iterable[FlowRef] = ()) -> None:
        self.dsn = resolve_dsn(dsn)
        self._flows = _Flows(flows)
        self._conn: psycopg.Connection[Any] | None = None
        self._start_many = ""  # the start_many query this connection's core supports

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _fetch(
        self,
        name: str,
        params: dict[str, Any] | None = None,
        connection: psycopg.Connection[Any] | None = None,
    ) -> list[dict[str, Any]]:
        if connection is not None:  # the caller's, in the caller's transaction
            if not isinstance(connection, psycopg.Connection):
                raise UsageError(
                    "Client takes a psycopg.Connection as connection= (AsyncClient an"
                    f" AsyncConnection), not {type(connection).__name__}"
                )
            return queries.fetch_sync(connection, name, params)
        if self._conn is None or self._conn.closed or self._conn.broken:
            try:
                self._conn = psycopg.connect(self.dsn, autocommit=True)
            except psycopg.Error as exc:
                raise connect_error(self.dsn, exc) from None
            self._start_many = ""
        return queries.fetch_sync(self._conn, name, params)

    def start(
        self,
        flow: FlowRef,
        input: Any,
        run_id: str | uuid.UUID | None = None,
        *,
        idempotency_key: str | None = None,
        connection: psycopg.Connection[Any] | None = None,
    ) -> str:
        """Start one run; return its id.

        Args:
            idempotency_key: When a run of the flow already has this key (until it is pruned),
                start nothing and return that run's id; two racing starts make one run.
            connection: Start the run on this connection, inside its open transaction: it
                starts when the caller commits, and never exists if the caller rolls back.

        Raises:
            InvalidInput: the input is not JSON, nests deeper than ``MAX_INPUT_DEPTH`` (512)
                levels, or breaks the flow's input_schema.
            FlowNotFound: the database has no such flow.
            UsageError: an empty idempotency key, or a connection that is not a psycopg one.
        """
        slug, spec = self._flows.resolve(flow)
        check_input(spec, input)
        name, params = _start_params(slug, input, run_id, idempotency_key)
        try:
            rows = self._fetch(name, params, connection)
        except FlowNotFound:  # translated from the constraint the core names
            raise FlowNotFound(flow_slug=slug) from None
        return str(rows[0]["run_id"])

    def start_many(
        self,
        flow: FlowRef,
        inputs: Sequence[Any],
        *,
        idempotency_keys: Sequence[str | None] | None = None,
        connection: psycopg.Connection[Any] | None = None,
    ) -> list[str]:
        """Start one run per input in one round trip; return the ids in input order.

        Args:
            idempotency_keys: One key (or None) per input, as ``start``'s ``idempotency_key``.
            connection: Start the runs inside this connection's open transaction.

        Raises:
            InvalidInput: an input is not JSON, nests too deeply or breaks the input_schema
                (none is started).
            FlowNotFound: the database has no such flow.
            UsageError: the keys are not one per input.
        """
        slug, spec = self._flows.resolve(flow)
        for i, value in enumerate(inputs):
            check_input(spec, value, f"inputs[{i}]")
        keys = _many_keys(inputs, idempotency_keys)
        if not inputs:
            return []
        params = {"flow_slug": slug, "inputs": Jsonb(list(inputs)), "idempotency_keys": keys}
        try:
            if keys is not None:
                name = "start_many_keyed"
            elif connection is not None:
                present = self._fetch("has_start_flows", None, connection)[0]["present"]
                name = "start_many" if present else "start_many_081"
            else:
                if not self._start_many:
                    present = self._fetch("has_start_flows")[0]["present"]
                    self._start_many = "start_many" if present else "start_many_081"
                name = self._start_many
            rows = self._fetch(name, params, connection)
        except FlowNotFound:  # translated from the constraint the core names
            raise FlowNotFound(flow_slug=slug) from None
        return [str(row["run_id"]) for row in rows]

    def get(self, run_id: str | uuid.UUID) -> Run:
        """Return a run with its step states.

        Raises:
            RunNotFound: no run has this id.
        """
        rows = self._fetch("get_run", {"run_id": _run_id(run_id)})
        if not rows or rows[0]["run"] is None or not rows[0]["run"].get("run"):
            raise RunNotFound(run_id=run_id)
        return Run.from_json(rows[0]["run"])

    def status(self, run_id: str | uuid.UUID) -> tuple[str, Any]:
        """Return ``(status, output)`` of a run (cheaper than ``get``).

        Raises:
            RunNotFound: no run has this id.
        """
        rows = self._fetch("run_status", {"run_id": _run_id(run_id)})
        if not rows:
            raise RunNotFound(run_id=run_id)
        return rows[0]["status"], rows[0]["output"]

    def wait(self, run_id: str | uuid.UUID, timeout: float | None = None) -> Run:
        """Wait until the run completes, fails or is cancelled; return it.

        Raises:
            WaitTimeout: still running after ``timeout`` seconds.
            RunNotFound: no run has this id.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        while True:
            status, _ = self.status(run_id)
            if status in TERMINAL:
                return self.get(run_id)
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"run {run_id} is still {status} after {timeout:g}s")
            pause = delay if deadline is None else min(delay, max(0.0, deadline - time.monotonic()))
            time.sleep(pause)
            delay = min(delay * 1.5, 0.25)

    def cancel(self, run_id: str | uuid.UUID) -> Run:
        """Cancel a run: nothing more starts and results still in flight are ignored.

        Raises:
            RunNotFound: no run has this id.
        """
        run_id = _run_id(run_id)
        self.status(run_id)
        self._fetch("cancel_run", {"run_id": run_id})
        return self.get(run_id)

    def retry(self, run_id: str | uuid.UUID) -> Run:
        """Start a failed or cancelled run's failed steps (and what depends on them) again.

        Raises:
            RunNotFound: no run has this id.
        """
        run_id = _run_id(run_id)
        self.status(run_id)
        self._fetch("retry_run", {"run_id": run_id})
        return self.get(run_id)

    def runs(
        self, flow: str | None = None, status: str | None = None, limit: int = 20
    ) -> list[RunSummary]:
        """Return recent runs, newest first."""
        rows = self._fetch("list_runs", {"flow_slug": flow, "status": status, "limit": limit})
        return [RunSummary(**row | {"run_id": str(row["run_id"])}) for row in rows]

    def tasks(self, run_id: str | uuid.UUID) -> list[TaskRow]:
        """Return the tasks of a run in step order."""
        return [TaskRow(**row) for row in self._fetch("run_tasks", {"run_id": _run_id(run_id)})]

    def schedules(self, flow: str | None = None) -> list[ScheduleInfo]:
        """Return the schedules (of one flow), with their next 3 fire times and last fire."""
        rows = self._fetch("list_schedules", {"flow_slugs": None if flow is None else [flow]})
        return [ScheduleInfo.from_row(row) for row in rows]

    def pause_schedule(self, flow: str, name: str, *, paused: bool = True) -> None:
        """Pause a schedule (``paused=False``: resume it, without catching up the pause).

        Raises:
            ScheduleNotFound: the flow has no such schedule.
        """
        self._fetch("pause_schedule", _schedule_params(flow, name, paused=paused))

    def resume_schedule(self, flow: str, name: str) -> None:
        """Resume a paused schedule (see ``pause_schedule``)."""
        self.pause_schedule(flow, name, paused=False)

    def trigger_schedule(self, flow: str, name: str) -> str:
        """Start a run of a schedule now, with its input; return the run's id.

        Raises:
            ScheduleNotFound: the flow has no such schedule.
        """
        return str(self._fetch("trigger_schedule", _schedule_params(flow, name))[0]["run_id"])


class AsyncClient:
    """The asyncio twin of ``Client``: same methods, awaited."""

    def __init__(self, dsn: str | None = None, *, flows: Iterable[FlowRef] = ()) -> None:
        self.dsn = resolve_dsn(dsn)
        self._flows = _Flows(flows)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._start_many = ""  # the start_many query this connection's core supports
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _fetch(
        self,
        name: str,
        params: dict[str, Any] | None = None,
        connection: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[dict[str, Any]]:
        if connection is not None:  # the caller's, in the caller's transaction
            if not isinstance(connection, psycopg.AsyncConnection):
                raise UsageError(
                    "AsyncClient takes a psycopg.AsyncConnection as connection= (Client a"
                    f" Connection), not {type(connection).__name__}"
                )
            return await queries.fetch(connection, name, params)
        async with self._lock:
            if self._conn is None or self._conn.closed or self._conn.broken:
                try:
                    self._conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
                except psycopg.Error as exc:
                    raise connect_error(self.dsn, exc) from None
                self._start_many = ""
            return await queries.fetch(self._conn, name, params)

    async def start(
        self,
        flow: FlowRef,
        input: Any,
        run_id: str | uuid.UUID | None = None,
        *,
        idempotency_key: str | None = None,
        connection: psycopg.AsyncConnection[Any] | None = None,
    ) -> str:
        """Start one run; return its id (see ``Client.start``)."""
        slug, spec = self._flows.resolve(flow)
        check_input(spec, input)
        name, params = _start_params(slug, input, run_id, idempotency_key)
        try:
            rows = await self._fetch(name, params, connection)
        except FlowNotFound:  # translated from the constraint the core names
            raise FlowNotFound(flow_slug=slug) from None
        return str(rows[0]["run_id"])

    async def start_many(
        self,
        flow: FlowRef,
        inputs: Sequence[Any],
        *,
        idempotency_keys: Sequence[str | None] | None = None,
        connection: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[str]:
        """Start one run per input in one round trip (see ``Client.start_many``)."""
        slug, spec = self._flows.resolve(flow)
        for i, value in enumerate(inputs):
            check_input(spec, value, f"inputs[{i}]")
        keys = _many_keys(inputs, idempotency_keys)
        if not inputs:
            return []
        params = {"flow_slug": slug, "inputs": Jsonb(list(inputs)), "idempotency_keys": keys}
        try:
            if keys is not None:
                name = "start_many_keyed"
            elif connection is not None:
                present = (await self._fetch("has_start_flows", None, connection))[0]["present"]
                name = "start_many" if present else "start_many_081"
            else:
                if not self._start_many:
                    present = (await self._fetch("has_start_flows"))[0]["present"]
                    self._start_many = "start_many" if present else "start_many_081"
                name = self._start_many
            rows = await self._fetch(name, params, connection)
        except FlowNotFound:  # translated from the constraint the core names
            raise FlowNotFound(flow_slug=slug) from None
        return [str(row["run_id"]) for row in rows]

    async def get(self, run_id: str | uuid.UUID) -> Run:
        """Return a run with its step states (see ``Client.get``)."""
        rows = await self._fetch("get_run", {"run_id": _run_id(run_id)})
        if not rows or rows[0]["run"] is None or not rows[0]["run"].get("run"):
            raise RunNotFound(run_id=run_id)
        return Run.from_json(rows[0]["run"])

    async def status(self, run_id: str | uuid.UUID) -> tuple[str, Any]:
        """Return ``(status, output)`` of a run (see ``Client.status``)."""
        rows = await self._fetch("run_status", {"run_id": _run_id(run_id)})
        if not rows:
            raise RunNotFound(run_id=run_id)
        return rows[0]["status"], rows[0]["output"]

    async def wait(self, run_id: str | uuid.UUID, timeout: float | None = None) -> Run:
        """Wait for a run to finish (see ``Client.wait``)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        delay = 0.005
        while True:
            status, _ = await self.status(run_id)
            if status in TERMINAL:
                return await self.get(run_id)
            if deadline is not None and loop.time() >= deadline:
                raise WaitTimeout(f"run {run_id} is still {status} after {timeout:g}s")
            pause = delay if deadline is None else min(delay, max(0.0, deadline - loop.time()))
            await asyncio.sleep(pause)
            delay = min(delay * 1.5, 0.25)

    async def cancel(self, run_id: str | uuid.UUID) -> Run:
        """Cancel a run (see ``Client.cancel``)."""
        run_id = _run_id(run_id)
        await self.status(run_id)
        await self._fetch("cancel_run", {"run_id": run_id})
        return await self.get(run_id)

    async def retry(self, run_id: str | uuid.UUID) -> Run:
        """Retry a failed or cancelled run (see ``Client.retry``)."""
        run_id = _run_id(run_id)
        await self.status(run_id)
        await self._fetch("retry_run", {"run_id": run_id})
        return await self.get(run_id)

    async def runs(
        self, flow: str | None = None, status: str | None = None, limit: int = 20
    ) -> list[RunSummary]:
        """Return recent runs, newest first."""
        rows = await self._fetch("list_runs", {"flow_slug": flow, "status": status, "limit": limit})
        return [RunSummary(**row | {"run_id": str(row["run_id"])}) for row in rows]

    async def tasks(self, run_id: str | uuid.UUID) -> list[TaskRow]:
        """Return the tasks of a run in step order."""
        rows = await self._fetch("run_tasks", {"run_id": _run_id(run_id)})
        return [TaskRow(**row) for row in rows]

    async def schedules(self, flow: str | None = None) -> list[ScheduleInfo]:
        """Return the schedules (see ``Client.schedules``)."""
        flows = None if flow is None else [flow]
        rows = await self._fetch("list_schedules", {"flow_slugs": flows})
        return [ScheduleInfo.from_row(row) for row in rows]

    async def pause_schedule(self, flow: str, name: str, *, paused: bool = True) -> None:
        """Pause or resume a schedule (see ``Client.pause_schedule``)."""
        await self._fetch("pause_schedule", _schedule_params(flow, name, paused=paused))

    async def resume_schedule(self, flow: str, name: str) -> None:
        """Resume a paused schedule."""
        await self.pause_schedule(flow, name, paused=False)

    async def trigger_schedule(self, flow: str, name: str) -> str:
        """Start a run of a schedule now (see ``Client.trigger_schedule``)."""
        rows = await self._fetch("trigger_schedule", _schedule_params(flow, name))
        return str(rows[0]["run_id"])
