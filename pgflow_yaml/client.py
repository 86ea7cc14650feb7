"""Start runs, wait for them, read their state, cancel and retry them.

``Client`` is synchronous, ``AsyncClient`` its asyncio twin; both run only the named queries of
``pgflow_yaml.queries``. Every start checks each input against the ``input_schema`` stored with
the flow in the database (``flows.opt_input_schema``, written by the compiled migration), read
once per flow and client and re-read whenever it changes: the start statement starts nothing
when the schema is no longer the one the input was checked against. A ``FlowSpec`` or a flow
file path given as ``flow`` (or registered with ``flows=[...]``) has its own schema checked
too, before the database is asked. A raw SQL ``pgflow.start_flow`` checks nothing.

    with Client(dsn) as client:
        run_id = client.start("flows/orders.yaml", {"order_id": "A-1", "items": []})
        run = client.wait(run_id, timeout=30)
        print(run.status, run.output)
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pgflow_yaml import queries, tracing
from pgflow_yaml.db import connect_error, resolve_dsn, session_kwargs
from pgflow_yaml.errors import (
    CoreNotInstalled,
    DatabaseError,
    DatabaseUnavailable,
    DefinitionError,
    FlowNotFound,
    InvalidInput,
    NestedTooDeep,
    NoWorker,
    OutputNotJson,
    RunCancelled,
    RunExists,
    RunFailed,
    RunNotFinished,
    RunNotFound,
    StartupError,
    UsageError,
    WaitTimeout,
)
from pgflow_yaml.model import FlowSpec
from pgflow_yaml.options import PG_INT_MAX, PRIORITY_MIN
from pgflow_yaml.worker.runner import MAX_INPUT_DEPTH, check_json

TERMINAL = frozenset({"completed", "failed", "cancelled"})
RUN_STATUSES = ("queued", "started", "completed", "failed", "cancelled")
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
    started_at: datetime | None = None
    completed_at: datetime | None = None
    failed_at: datetime | None = None
    skipped_at: datetime | None = None
    cancelled_at: datetime | None = None


@dataclass(frozen=True)
class StepError:
    """Why a run failed: the step that failed it and, when a task failed, that task's error.

    Attributes:
        step_slug: the failed step.
        task_index: its failed task (``None``: the step failed without one, e.g. a condition
            unmet with ``when_unmet: fail``).
        error_type: what the worker recorded: the exception's qualified name
            (``builtins.ValueError``), ``TaskTimeout``, ``stalled``...; ``None`` when unknown.
        message: the error message (the worker's starts with the exception's name).
        traceback: the handler's traceback, when the worker recorded one.
        attempt: the attempt the task failed on (1, 2, ...).
        max_attempts: the step's ``max_attempts``.
    """

    step_slug: str
    task_index: int | None
    error_type: str | None
    message: str | None
    traceback: str | None = field(default=None, repr=False)
    attempt: int | None = None
    max_attempts: int | None = None

    def headline(self) -> str:
        """Return the error as one would print it: "ValueError: boom" (the type once)."""
        message = (self.message or "").strip()
        if not self.error_type:
            return message or "no error message"
        short = self.error_type.rsplit(".", 1)[-1]
        tagged = message.lower().startswith(f"[{short.lower()}]")  # [STALLED], [TYPE_VIOLATION]
        if message == short or message.startswith(f"{short}:") or tagged:
            return message
        return f"{short}: {message}" if message else short

    def describe(self) -> str:
        """Return "step charge (task 0, attempt 3 of 3): ValueError: boom"."""
        where = []
        if self.task_index is not None:
            where.append(f"task {self.task_index}")
        if self.attempt is not None:
            of = f" of {self.max_attempts}" if self.max_attempts is not None else ""
            where.append(f"attempt {self.attempt}{of}")
        place = f" ({', '.join(where)})" if where else ""
        return f"step {self.step_slug}{place}: {self.headline()}"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> StepError:
        """Build it from a row of the ``run_error`` query."""
        return cls(
            step_slug=str(row["step_slug"]),
            task_index=row.get("task_index"),
            error_type=row.get("error_type"),
            message=row.get("message"),
            traceback=row.get("traceback"),
            attempt=row.get("attempt"),
            max_attempts=row.get("max_attempts"),
        )


@dataclass(frozen=True)
class Run:
    """A run and its step states."""

    run_id: str
    flow_slug: str
    status: str
    input: Any = None
    output: Any = None
    remaining_steps: int | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    failed_at: datetime | None = None
    steps: tuple[StepState, ...] = ()
    cancelled_at: datetime | None = None
    error: StepError | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    parent_run_id: str | None = None
    """The run whose sub-flow step started this one (``None``: not a child run)."""
    parent_step_slug: str | None = None
    parent_task_index: int | None = None

    @property
    def finished(self) -> bool:
        """Return True once the run completed, failed or was cancelled."""
        return self.status in TERMINAL

    @property
    def ended_at(self) -> datetime | None:
        """Return when the run completed, failed or was cancelled (``None`` while it runs)."""
        return self.completed_at or self.failed_at or self.cancelled_at

    def result(self) -> Any:
        """Return the output of a completed run.

        Raises:
            RunFailed: the run failed; its ``error`` says where and why.
            RunCancelled: the run was cancelled.
            RunNotFinished: the run is still going (``Client.result`` waits instead).
        """
        if self.status == "completed":
            return self.output
        if self.status == "failed":
            raise RunFailed(self)
        if self.status == "cancelled":
            raise RunCancelled(self)
        raise RunNotFinished(run_id=self.run_id, status=self.status)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Run:
        """Build a run from the ``{run, steps}`` document of ``get_run_with_states``."""
        run = data.get("run") or {}
        steps = tuple(
            StepState(
                step_slug=s["step_slug"],
                status=s["status"],
                **{k: _timestamp(k, s.get(k)) for k in _STEP_FIELDS},
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
            started_at=_timestamp("started_at", run.get("started_at")),
            completed_at=_timestamp("completed_at", run.get("completed_at")),
            failed_at=_timestamp("failed_at", run.get("failed_at")),
            steps=steps,
            cancelled_at=_timestamp("cancelled_at", run.get("cancelled_at")),
            raw=data,
            parent_run_id=_optional_str(run.get("parent_run_id")),
            parent_step_slug=run.get("parent_step_slug"),
            parent_task_index=run.get("parent_task_index"),
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
            "started_at": _iso(self.started_at),
            "completed_at": _iso(self.completed_at),
            "failed_at": _iso(self.failed_at),
            "cancelled_at": _iso(self.cancelled_at),
            "error": None if self.error is None else asdict(self.error),
            "steps": [{k: _iso(v) for k, v in vars(s).items()} for s in self.steps],
            "parent_run_id": self.parent_run_id,
            "parent_step_slug": self.parent_step_slug,
            "parent_task_index": self.parent_task_index,
        }


_STEP_FIELDS = [f for f in StepState.__dataclass_fields__ if f not in ("step_slug", "status")]


def _timestamp(name: str, value: Any) -> Any:
    """Return a ``*_at`` value of ``get_run_with_states`` (ISO 8601 text) as a ``datetime``."""
    if name.endswith("_at") and isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _iso(value: Any) -> Any:
    """Return a ``datetime`` as ISO 8601 text (``2026-01-31T12:00:00+00:00``), else ``value``."""
    return value.isoformat() if isinstance(value, datetime) else value


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
    cancelled_at: datetime | None = None
    parent_run_id: str | None = None
    """The run whose sub-flow step started this one (``None``: not a child run)."""
    parent_step_slug: str | None = None
    parent_task_index: int | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RunSummary:
        """Build a summary from a row of ``list_runs`` / ``list_children``."""
        return cls(
            **row
            | {"run_id": str(row["run_id"]), "parent_run_id": _optional_str(row["parent_run_id"])}
        )


def _runs_query(
    flow: str | None, status: str | None, limit: int | None, parent: str | uuid.UUID | None
) -> tuple[str, dict[str, Any]]:
    """Return the named query and parameters of ``runs()`` (``list_children`` for a parent)."""
    check_run_status(status)
    params: dict[str, Any] = {"flow_slug": flow, "status": status, "limit": limit}
    if parent is None:
        return "list_runs", params
    return "list_children", params | {"parent_run_id": _run_id(parent)}


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
    error_type: str | None = None
    error_traceback: str | None = None
    cancelled_at: datetime | None = None


@dataclass(frozen=True)
class Reason:
    """Why one step (``task_index`` None) or task of a run is not running now (``Client.why``).

    Attributes:
        step_slug: The step.
        task_index: The task, or ``None`` for the whole step (not started yet, or waiting).
        reason: ``waiting_for_dependencies``, ``starting``, ``waiting_for_signal``,
            ``running``, ``concurrency_full``, ``rate_limited``, ``retry_backoff``,
            ``start_delay``, ``held_back``, ``waiting_for_worker``, ``run_queued`` or
            ``waiting_for_child_run`` (docs/flow-control.md).
        detail: What the reason depends on (dependencies, key, limit, holding runs, worker...).
        until: When it changes, where known.
    """

    step_slug: str
    task_index: int | None
    reason: str
    detail: dict[str, Any]
    until: datetime | None = None

    def describe(self) -> str:
        """Return the reason as one sentence (what ``pgflow why`` shows)."""
        d = self.detail
        when = f"{self.until:%Y-%m-%d %H:%M:%S%z}" if self.until else ""
        at = f" until {when}" if when else ""

        def runs(key: str) -> str:
            held = d.get(key) or []
            shown = ", ".join(str(r) for r in held[:3])
            return shown + (f" and {len(held) - 3} more" if len(held) > 3 else "")

        def keyed() -> str:
            return f" for key {json.dumps(d['key'])}" if d.get("key") is not None else ""

        if self.reason == "waiting_for_dependencies":
            return "waiting for " + (", ".join(d.get("dependencies") or []) or "its dependencies")
        if self.reason == "starting":
            return "ready: its tasks are being created"
        if self.reason == "waiting_for_signal":
            return "waiting for a signal (pgflow.signal)" + (
                f", times out at {when}" if when else ""
            )
        if self.reason == "running":
            return (
                f"running on worker {d.get('worker_id')} since {d.get('started_at')} "
                f"(attempt {d.get('attempt')}), times out at {when}"
            )
        if self.reason == "waiting_for_child_run":
            return (
                f"waiting for child run {d.get('child_run_id')} of flow {d.get('child_flow')} "
                f"({d.get('child_status')}, attempt {d.get('attempt')})"
                + (f", times out at {when}" if when else "")
            )
        if self.reason == "concurrency_full":
            return (
                f"step concurrency full{keyed()}: {d.get('in_flight')} of {d.get('limit')} in "
                f"flight (runs {runs('holding_runs')})"
            )
        if self.reason == "rate_limited":
            limit = d.get("limit")
            starts = "start" if limit == 1 else "starts"
            return f"rate limited{keyed()}: {limit} {starts} per {d.get('per')} s used{at}"
        if self.reason == "retry_backoff":
            return f"retry backoff after attempt {d.get('attempt')} failed{at}"
        if self.reason == "start_delay":
            return f"start delay{at}"
        if self.reason == "held_back":
            return f"held back for a moment (a limit was full, or it was released){at}"
        if self.reason == "waiting_for_worker":
            live = d.get("live_workers") or 0
            serving = (
                f"{live} live worker{'s' if live != 1 else ''} serve the flow"
                if live
                else "no live worker serves the flow"
            )
            return f"ready, waiting for a worker: {d.get('ahead')} ready tasks ahead; {serving}"
        if self.reason == "run_queued":
            return (
                f"run queued behind the flow's concurrency limit: position {d.get('position')} "
                f"(runs holding the slots: {runs('holding_runs')})"
            )
        return self.reason


@dataclass(frozen=True)
class PruneResult:
    """What ``Client.prune`` did: runs deleted, in how many batches, before which cutoff."""

    runs_deleted: int
    batches: int
    cutoff: datetime


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
    if flow is not None and flow.input_schema is not None:  # checked by the loader already
        _check_schema(_validator(flow.input_schema, checked=True), flow.slug, value, label)


def _validator(schema: Any, *, checked: bool = False) -> Any:
    """Return a validator of ``schema``, by its ``$schema`` draft (2020-12 when it names none).

    Raises:
        jsonschema.SchemaError: ``schema`` is not a valid JSON Schema (unless ``checked``).
    """
    from jsonschema import Draft202012Validator
    from jsonschema.validators import validator_for

    cls = validator_for(schema, default=Draft202012Validator)
    if not checked:
        cls.check_schema(schema)
    return cls(schema)


def _schema_problems(validator: Any, value: Any, label: str) -> str:
    """Return one indented line per way ``value`` breaks the validator's schema (empty: none)."""
    problems = sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
    lines = []
    for error in problems:
        where = "".join(f"[{p!r}]" for p in error.absolute_path)
        lines.append(f"  {label}{where}: {error.message}")
    return "\n".join(lines)


def _check_schema(validator: Any, flow_slug: str, value: Any, label: str) -> None:
    problems = _schema_problems(validator, value, label)
    if problems:
        raise InvalidInput(
            f"the input does not match the input_schema of flow {flow_slug!r}:\n" + problems
        )


def check_signal(rows: list[dict[str, Any]], run_id: str, step: str, payload: Any) -> None:
    """Check a signal's payload before it is sent: JSON, and the step's stored schema.

    ``rows`` is the ``signal_target`` query's answer. A step that is not a signal step, or a
    run in the wrong state, is left to ``pgflow.signal`` to refuse.

    Raises:
        RunNotFound: no run has this id.
        InvalidInput: the payload is not JSON or breaks the step's schema (nothing is sent,
            so the step keeps waiting).
    """
    if not rows:
        raise RunNotFound(run_id=run_id)
    try:
        check_json(payload, "payload", MAX_INPUT_DEPTH)
    except (NestedTooDeep, OutputNotJson) as exc:
        raise InvalidInput(f"the signal payload is not JSON: {exc}") from None
    schema = rows[0]["signal_schema"]
    if schema is None:
        return
    problems = _schema_problems(_validator(schema, checked=True), payload, "payload")
    if problems:
        raise InvalidInput(
            f"the payload does not match the signal schema of step {step!r}:\n" + problems
        )


def check_run_status(status: str | None) -> None:
    """Accept ``None`` or a run status.

    Raises:
        UsageError: any other value, listing the run statuses.
    """
    if status is not None and status not in RUN_STATUSES:
        raise UsageError(f"unknown run status {status!r}; use one of: {', '.join(RUN_STATUSES)}")


def _still_going(ids: list[str], rows: list[dict[str, Any]]) -> list[str]:
    """Return the ids (in order, once each) of the runs in ``rows`` that have not finished.

    Raises:
        RunNotFound: an id has no row.
    """
    status = {str(row["run_id"]): row["status"] for row in rows}
    for run_id in ids:
        if run_id not in status:
            raise RunNotFound(run_id=run_id)
    return [i for i in dict.fromkeys(ids) if status[i] not in TERMINAL]


def _wait_many_timeout(ids: list[str], going: list[str], timeout: float) -> WaitTimeout:
    total = len(dict.fromkeys(ids))
    runs = "run" if total == 1 else "runs"
    return WaitTimeout(
        f"{len(going)} of {total} {runs} still going after {timeout:g}s: {', '.join(going)}",
        run_ids=going,
    )


@dataclass
class _Stored:
    md5: str | None
    schema: Any
    validator: Any


class _StoredSchemas:
    """The ``input_schema`` stored with each flow, as this client last read it, by slug."""

    def __init__(self) -> None:
        self._by_slug: dict[str, _Stored] = {}

    def check(
        self, slug: str, spec: FlowSpec | None, inputs: Sequence[tuple[str, Any]]
    ) -> str | None:
        """Check ``(label, input)`` pairs against the schema last read; return its token.

        The token is the md5 the start statement compares with the stored schema's: ``None``
        (checked against no schema) for a flow not read yet, which starts at once if the flow
        has none. Inputs already checked against the same schema of ``spec`` are not checked
        again.

        Raises:
            InvalidInput: an input breaks the stored schema.
        """
        stored = self._by_slug.get(slug)
        if stored is None:
            return None
        if stored.validator is not None and (spec is None or spec.input_schema != stored.schema):
            for label, value in inputs:
                _check_schema(stored.validator, slug, value, label)
        return stored.md5

    def remember(self, slug: str, rows: list[dict[str, Any]]) -> None:
        """Remember the ``input_schema`` and ``schema_md5`` of the row a query returned.

        Raises:
            FlowNotFound: no row (the database has no such flow).
            DefinitionError: the stored schema is not a valid JSON Schema.
        """
        if not rows:
            raise FlowNotFound(flow_slug=slug)
        schema = rows[0]["input_schema"]
        validator = None
        if schema is not None:
            from jsonschema import SchemaError

            try:
                validator = _validator(schema)
            except SchemaError as exc:
                raise DefinitionError(
                    f"the input_schema stored with flow {slug!r} is not a valid JSON Schema: "
                    f"{exc.message}"
                ) from None
        self._by_slug[slug] = _Stored(rows[0]["schema_md5"], schema, validator)

    def start(
        self,
        query: str,
        slug: str,
        spec: FlowSpec | None,
        inputs: list[tuple[str, Any]],
        params: dict[str, Any],
    ) -> Generator[tuple[str, dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
        """Plan a start: yield ``(query name, parameters)`` to run, get back its rows, and
        return the row of the start (the sync and async clients only run the queries).

        The inputs are checked against the schema last read and the start statement is given
        its md5: if the stored schema changed since, it starts nothing and returns the new one,
        and the inputs are checked again. An input the schema last read refuses is checked
        again against the schema read afresh before it is refused.

        Raises:
            InvalidInput: an input breaks the schema stored now.
            FlowNotFound: the database has no such flow.
        """
        key = "run_ids" if query.startswith("start_many") else "run_id"
        fresh = False  # whether the schema was read during this start
        while True:
            try:
                token = self.check(slug, spec, inputs)
            except InvalidInput:
                if fresh:
                    raise
                self.remember(slug, (yield "flow_input_schema", {"flow_slug": slug}))
                fresh = True
                continue
            rows = yield query, {"flow_slug": slug, "schema_md5": token, **params}
            if rows and rows[0][key] is not None:
                return rows[0]
            self.remember(slug, rows)
            fresh = True


def _run_id(value: str | uuid.UUID) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise RunNotFound(f"{value!r} is not a run id (a UUID)") from None


def _check_priority(priority: int | None) -> int | None:
    """Return ``priority`` when it is ``None`` or a PostgreSQL integer above the "not given" value.

    Raises:
        UsageError: it is not an integer in that range.
    """
    if priority is None:
        return None
    if type(priority) is not int or not PRIORITY_MIN <= priority <= PG_INT_MAX:
        raise UsageError(f"a priority is an integer from {PRIORITY_MIN} to {PG_INT_MAX}")
    return priority


def _start_query(
    params: dict[str, Any],
    idempotency_key: str | None,
    trace: dict[str, str] | None,
    priority: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """Return the start query: keyed only when a key or a priority is given (pgflow 0.8.1's
    start_flow has neither argument), recording ``trace`` (the caller's trace context, otel
    extra) when given.

    Raises:
        UsageError: the key is not a non-empty string, or the priority not an integer.
    """
    if idempotency_key is not None and (
        not isinstance(idempotency_key, str) or not idempotency_key
    ):
        raise UsageError("an idempotency key is a non-empty string")
    keyed = idempotency_key is not None or _check_priority(priority) is not None
    if keyed:
        params = params | {"idempotency_key": idempotency_key, "priority": priority}
    name = "start_flow_keyed" if keyed else "start_flow"
    if trace is None:
        return name, params
    return f"{name}_traced", params | {"trace_context": Jsonb(trace)}


def _with_error(run: Run, rows: list[dict[str, Any]]) -> Run:
    """Return ``run`` with its ``error`` from the rows of the ``run_error`` query."""
    return replace(run, error=StepError.from_row(rows[0])) if rows else run


def _timeout(
    run_id: str | uuid.UUID, status: str, timeout: float, live: list[dict[str, Any]]
) -> WaitTimeout:
    """Return the error of a wait that timed out: ``NoWorker`` when no live worker serves the
    run's flow (rows of ``run_live_workers``; none when the core cannot tell), else
    ``WaitTimeout``."""
    waited = f"run {run_id} is still {status} after {timeout:g}s"
    if live and live[0]["live"] == 0:
        return NoWorker(live[0]["flow_slug"], waited)
    return WaitTimeout(waited)


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


class _LazyDsn:
    """The DSN of a client's own connection, resolved (``resolve_dsn``: the argument, the
    environment, else the embedded server) only when that connection is first opened: a client
    used only with ``connection=`` never resolves one, so never starts an embedded server."""

    def __init__(self, dsn: str | None) -> None:
        self._dsn_given = dsn
        self._dsn: str | None = None

    @property
    def dsn(self) -> str:
        """Return the DSN the client connects with (resolved now if it was not yet).

        Raises:
            EmbeddedServerError: no DSN anywhere and the embedded server cannot start.
        """
        if self._dsn is None:
            self._dsn = resolve_dsn(self._dsn_given)
        return self._dsn


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise UsageError(f"batch_size must be positive (got {batch_size})")


def _prune_cutoff(row: dict[str, Any], older_than: str | timedelta) -> datetime:
    """Return the cutoff of a ``prune_cutoff`` row, refusing a negative interval."""
    if row["negative"]:
        raise UsageError(f"older_than must not be negative (got {older_than})")
    cutoff: datetime = row["cutoff"]
    return cutoff


def _prune_params(
    cutoff: datetime,
    batch_size: int,
    after_started_at: datetime | None,
    after_run_id: uuid.UUID | None,
) -> dict[str, Any]:
    return {
        "cutoff": cutoff,
        "batch_size": batch_size,
        "after_started_at": after_started_at,
        "after_run_id": after_run_id,
    }


class Client(_LazyDsn):
    """Start and control runs (synchronous); see the module docstring for an example."""

    def __init__(
        self,
        dsn: str | None = None,
        *,
        flows: Iterable[FlowRef] = (),
        transaction_pooling: bool | None = None,
    ) -> None:
        super().__init__(dsn)
        self._flows = _Flows(flows)
        self._schemas = _StoredSchemas()
        # through a transaction-mode pooler: no server-side prepared statements (None: the
        # PGFLOW_TRANSACTION_POOLING environment variable decides)
        self._session = session_kwargs(transaction_pooling)
        self._conn: psycopg.Connection[Any] | None = None
        self._start_many = ""  # the start_many query this connection's core supports
        self._traces: bool | None = None  # whether this connection's core records trace contexts

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
                self._conn = psycopg.connect(self.dsn, autocommit=True, **self._session)
            except psycopg.Error as exc:
                raise connect_error(self.dsn, exc) from None
            self._start_many = ""
            self._traces = None
        return queries.fetch_sync(self._conn, name, params)

    def _trace(self, connection: psycopg.Connection[Any] | None) -> dict[str, str] | None:
        """Return the caller's trace context to record on a run, if any and if the core can
        (pgflow 0.8.1 cannot: its runs start untraced). Asked once per connection of the
        client; on each call for the caller's ``connection`` (a failed traced start would abort
        the caller's transaction)."""
        trace = tracing.current_context()
        if trace is None:
            return None
        if connection is not None:
            present = self._fetch("has_trace_context", None, connection)[0]["present"]
            return trace if present else None
        if self._traces is None:
            self._traces = bool(self._fetch("has_trace_context")[0]["present"])
        return trace if self._traces else None

    def _start(
        self,
        plan: Generator[tuple[str, dict[str, Any]], Any, dict[str, Any]],
        connection: psycopg.Connection[Any] | None,
    ) -> Any:
        """Run the queries of a start planned by ``_StoredSchemas.start`` (on ``connection``
        when given); return its row."""
        rows = None
        try:
            while True:
                name, params = plan.send(rows)
                rows = self._fetch(name, params, connection)
        except StopIteration as done:
            return done.value

    def start(
        self,
        flow: FlowRef,
        input: Any,
        run_id: str | uuid.UUID | None = None,
        *,
        idempotency_key: str | None = None,
        priority: int | None = None,
        connection: psycopg.Connection[Any] | None = None,
    ) -> str:
        """Start one run; return its id.

        Args:
            idempotency_key: When a run of the flow already has this key (until it is pruned),
                start nothing and return that run's id; two racing starts make one run.
            priority: This run's priority, outranking the flow's and its steps' (higher is
                claimed first, and starts first when the flow's ``concurrency`` queues it;
                docs/flow-control.md). ``None``: theirs.
            connection: Start the run on this connection, inside its open transaction: it
                starts when the caller commits, and never exists if the caller rolls back.

        Raises:
            InvalidInput: the input is not JSON, nests deeper than ``MAX_INPUT_DEPTH`` (512)
                levels, or breaks the flow's input_schema (the stored one, and the file's when
                ``flow`` is a ``FlowSpec`` or a file).
            FlowNotFound: the database has no such flow.
            RunExists: a run already has this ``run_id``.
            UsageError: an empty idempotency key, or a connection that is not a psycopg one.
        """
        slug, spec = self._flows.resolve(flow)
        check_input(spec, input)
        params = {"input": Jsonb(input), "run_id": run_id and _run_id(run_id)}
        try:
            name, params = _start_query(params, idempotency_key, self._trace(connection), priority)
            plan = self._schemas.start(name, slug, spec, [("input", input)], params)
            row = self._start(plan, connection)
        except FlowNotFound:  # translated from the constraint the core names
            raise FlowNotFound(flow_slug=slug) from None
        except RunExists:  # translated from the runs primary key
            raise RunExists(run_id=params["run_id"]) from None
        return str(row["run_id"])

    def start_many(
        self,
        flow: FlowRef,
        inputs: Sequence[Any],
        *,
        idempotency_keys: Sequence[str | None] | None = None,
        priority: int | None = None,
        connection: psycopg.Connection[Any] | None = None,
    ) -> list[str]:
        """Start one run per input in one round trip; return the ids in input order.

        Args:
            idempotency_keys: One key (or None) per input, as ``start``'s ``idempotency_key``.
            priority: Every run's priority, as ``start``'s.
            connection: Start the runs inside this connection's open transaction.

        Raises:
            InvalidInput: an input is not JSON, nests too deeply or breaks the input_schema
                (none is started).
            FlowNotFound: the database has no such flow.
            UsageError: the keys are not one per input.
        """
        slug, spec = self._flows.resolve(flow)
        labelled = [(f"inputs[{i}]", value) for i, value in enumerate(inputs)]
        for label, value in labelled:
            check_input(spec, value, label)
        keys = _many_keys(inputs, idempotency_keys)
        if not inputs:
            return []
        params = {
            "flow_slug": slug,
            "inputs": Jsonb(list(inputs)),
            "idempotency_keys": keys,
            "priority": _check_priority(priority),
        }
        try:
            if keys is not None or priority is not None:
                name = "start_many_keyed"
            elif connection is not None:
                present = self._fetch("has_start_flows", None, connection)[0]["present"]
                name = "start_many" if present else "start_many_081"
            else:
                if not self._start_many:
                    present = self._fetch("has_start_flows")[0]["present"]
                    self._start_many = "start_many" if present else "start_many_081"
                name = self._start_many
            row = self._start(self._schemas.start(name, slug, spec, labelled, params), connection)
        except FlowNotFound:  # translated from the constraint the core names
            raise FlowNotFound(flow_slug=slug) from None
        return [str(run_id) for run_id in row["run_ids"]]

    def input_schema(self, flow: FlowRef) -> Any:
        """Return the input_schema stored with a flow (``None``: it has none).

        Raises:
            FlowNotFound: the database has no such flow.
        """
        slug, _ = self._flows.resolve(flow)
        rows = self._fetch("flow_input_schema", {"flow_slug": slug})
        if not rows:
            raise FlowNotFound(flow_slug=slug)
        return rows[0]["input_schema"]

    def get(self, run_id: str | uuid.UUID) -> Run:
        """Return a run with its step states (and, when it failed, its ``error``).

        Raises:
            RunNotFound: no run has this id.
        """
        rows = self._fetch("get_run", {"run_id": _run_id(run_id)})
        if not rows or rows[0]["run"] is None or not rows[0]["run"].get("run"):
            raise RunNotFound(run_id=run_id)
        run = Run.from_json(rows[0]["run"])
        if run.status != "failed":
            return run
        return _with_error(run, self._fetch("run_error", {"run_id": run.run_id}))

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
            NoWorker: still running after ``timeout`` seconds, and no live worker serves its
                flow (a ``WaitTimeout``).
            WaitTimeout: still running after ``timeout`` seconds.
            RunNotFound: no run has this id.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        while True:
            status, _ = self.status(run_id)
            if status in TERMINAL:
                return self.get(run_id)
            if deadline is not None and timeout is not None and time.monotonic() >= deadline:
                raise _timeout(run_id, status, timeout, self._run_live_workers(run_id))
            pause = delay if deadline is None else min(delay, max(0.0, deadline - time.monotonic()))
            time.sleep(pause)
            delay = min(delay * 1.5, 0.25)

    def wait_many(
        self, run_ids: Iterable[str | uuid.UUID], timeout: float | None = None
    ) -> list[Run]:
        """Wait until every run has completed, failed or been cancelled; return them in order.

        Raises:
            WaitTimeout: some runs are still going after ``timeout`` seconds; the message (and
                ``context["run_ids"]``) names each of them.
            RunNotFound: no run has one of these ids.
        """
        ids = [_run_id(r) for r in run_ids]
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        going = ids
        while True:
            going = _still_going(going, self._fetch("run_statuses", {"run_ids": going}))
            if not going:
                return [self.get(run_id) for run_id in ids]
            if deadline is not None and time.monotonic() >= deadline:
                raise _wait_many_timeout(ids, going, timeout or 0)
            pause = delay if deadline is None else min(delay, max(0.0, deadline - time.monotonic()))
            time.sleep(pause)
            delay = min(delay * 1.5, 0.25)

    def result(self, run_id: str | uuid.UUID, timeout: float | None = None) -> Any:
        """Wait for a run (see ``wait``) and return its output.

        Raises:
            RunFailed: the run failed; ``.error`` says at which step and why.
            RunCancelled: the run was cancelled.
            NoWorker, WaitTimeout, RunNotFound: as ``wait``.
        """
        return self.wait(run_id, timeout).result()

    def live_workers(self, flow: FlowRef) -> int | None:
        """Return how many live workers serve a flow (registered, heartbeating in the last 30 s,
        not stopped); ``None`` when the core cannot tell (pgflow 0.8.1, pgflow-yaml < 0.3)."""
        slug, _ = self._flows.resolve(flow)
        try:
            return int(self._fetch("live_workers", {"flow_slug": slug})[0]["live"])
        except CoreNotInstalled:
            return None

    def _run_live_workers(self, run_id: str | uuid.UUID) -> list[dict[str, Any]]:
        try:
            return self._fetch("run_live_workers", {"run_id": _run_id(run_id)})
        except CoreNotInstalled:  # a core without live_workers: it cannot tell
            return []

    def cancel(self, run_id: str | uuid.UUID) -> Run:
        """Cancel a run: nothing more starts and results still in flight are ignored.

        Raises:
            RunNotFound: no run has this id.
        """
        run_id = _run_id(run_id)
        self.status(run_id)
        self._fetch("cancel_run", {"run_id": run_id})
        return self.get(run_id)

    def why(self, run_id: str | uuid.UUID) -> list[Reason]:
        """Return why each unfinished step or task of a run is not running now.

        One :class:`Reason` per step not started yet (or waiting for a signal) and per
        unfinished task of a started step; nothing for a finished run.

        Raises:
            RunNotFound: no run has this id.
        """
        rows = self._fetch("explain_run", {"run_id": _run_id(run_id)})
        return [Reason(**row) for row in rows]

    def retry(self, run_id: str | uuid.UUID) -> Run:
        """Start a failed or cancelled run's failed steps (and what depends on them) again.

        Raises:
            RunNotFound: no run has this id.
        """
        run_id = _run_id(run_id)
        self.status(run_id)
        self._fetch("retry_run", {"run_id": run_id})
        return self.get(run_id)

    def signal(self, run_id: str | uuid.UUID, step: str, payload: Any, task_index: int = 0) -> str:
        """Deliver a signal to a signal step of a run: its payload becomes the step's output.

        The payload is checked against the step's schema first. A step that is not waiting
        yet keeps the signal and completes as soon as it is ready. A signal map step takes one
        signal per element (``task_index``) and completes with the payloads in order once it
        has them all. To signal inside your own transaction, call
        ``select pgflow.signal(run_id, step, payload)`` on its connection.

        Returns:
            ``"completed"`` (the step completed now) or ``"pending"`` (kept: the step is not
            ready yet, or a map step still waits for other elements).

        Raises:
            RunNotFound: no run has this id.
            InvalidInput: the payload is not JSON or breaks the step's schema.
            SignalRefused: not a signal step, already signalled, or the run is not running.
        """
        run_id = _run_id(run_id)
        params: dict[str, Any] = {"run_id": run_id, "step_slug": step}
        check_signal(self._fetch("signal_target", params), run_id, step, payload)
        params |= {"payload": Jsonb(payload), "task_index": task_index}
        return str(self._fetch("deliver_signal", params)[0]["outcome"])

    def prune(
        self,
        older_than: str | timedelta,
        *,
        batch_size: int = 1000,
        pause: float = 0.0,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> PruneResult:
        """Delete the runs that ended more than ``older_than`` ago, in bounded batches.

        Each batch (``pgflow.prune_batch``) looks at ``batch_size`` runs that started before
        the cutoff and deletes those that ended before it, with their step states, tasks and
        queue messages, in its own short transaction: runs locked by a worker are skipped, so
        workers are never blocked for longer than one batch's row locks. ``older_than`` is a
        ``timedelta`` or PostgreSQL interval text (``'30 days'``, ``'12h'``); ``pause`` seconds
        are slept between batches; ``on_batch(batches_done, runs_deleted_so_far)`` is called
        after each. Each batch also deletes up to ``batch_size`` rate-limit start records out of
        their step's window; the last also deletes the schedule fire records and stopped
        workers older than the cutoff. Needs the core's owner (``prune_batch`` is not granted to the
        worker or client roles).

        Raises:
            UsageError: ``older_than`` is not an interval or is negative, or ``batch_size < 1``.
        """
        _check_batch_size(batch_size)
        try:
            (row,) = self._fetch("prune_cutoff", {"older_than": older_than})
        except DatabaseUnavailable:
            raise
        except DatabaseError as exc:
            raise UsageError(f"older_than is not an interval: {exc}") from None
        cutoff = _prune_cutoff(row, older_than)
        total = batches = 0
        after_started_at: datetime | None = None
        after_run_id: uuid.UUID | None = None
        while True:
            (batch,) = self._fetch(
                "prune_batch",
                _prune_params(cutoff, batch_size, after_started_at, after_run_id),
            )
            total += batch["runs_deleted"]
            batches += 1
            if on_batch is not None:
                on_batch(batches, total)
            if batch["last_run_id"] is None:
                return PruneResult(total, batches, cutoff)
            after_started_at, after_run_id = batch["last_started_at"], batch["last_run_id"]
            if pause > 0:
                time.sleep(pause)

    def runs(
        self,
        flow: str | None = None,
        status: str | None = None,
        limit: int | None = 20,
        *,
        parent: str | uuid.UUID | None = None,
    ) -> list[RunSummary]:
        """Return recent runs, newest first; with ``parent``, that run's child runs instead
        (by parent step, task index and start). ``limit=None``: all of them.

        Raises:
            UsageError: ``status`` is not a run status (the message lists them).
        """
        query, params = _runs_query(flow, status, limit, parent)
        return [RunSummary.from_row(row) for row in self._fetch(query, params)]

    def children(self, run_id: str | uuid.UUID) -> list[RunSummary]:
        """Return every child run of a run (started by its sub-flow steps, retries included),
        by parent step, task index and start."""
        return self.runs(limit=None, parent=run_id)

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


class AsyncClient(_LazyDsn):
    """The asyncio twin of ``Client``: same methods, awaited."""

    def __init__(
        self,
        dsn: str | None = None,
        *,
        flows: Iterable[FlowRef] = (),
        transaction_pooling: bool | None = None,
    ) -> None:
        super().__init__(dsn)
        self._flows = _Flows(flows)
        self._schemas = _StoredSchemas()
        # through a transaction-mode pooler: no server-side prepared statements (None: the
        # PGFLOW_TRANSACTION_POOLING environment variable decides)
        self._session = session_kwargs(transaction_pooling)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._start_many = ""  # the start_many query this connection's core supports
        self._traces: bool | None = None  # whether this connection's core records trace contexts
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
                    self._conn = await psycopg.AsyncConnection.connect(
                        self.dsn, autocommit=True, **self._session
                    )
                except psycopg.Error as exc:
                    raise connect_error(self.dsn, exc) from None
                self._start_many = ""
                self._traces = None
            return await queries.fetch(self._conn, name, params)

    async def _trace(
        self, connection: psycopg.AsyncConnection[Any] | None
    ) -> dict[str, str] | None:
        """Return the trace context to record on a run, if the core can (see ``Client``)."""
        trace = tracing.current_context()
        if trace is None:
            return None
        if connection is not None:
            present = (await self._fetch("has_trace_context", None, connection))[0]["present"]
            return trace if present else None
        if self._traces is None:
            self._traces = bool((await self._fetch("has_trace_context"))[0]["present"])
        return trace if self._traces else None

    async def _start(
        self,
        plan: Generator[tuple[str, dict[str, Any]], Any, dict[str, Any]],
        connection: psycopg.AsyncConnection[Any] | None,
    ) -> Any:
        """Run the queries of a start planned by ``_StoredSchemas.start`` (on ``connection``
        when given); return its row."""
        rows = None
        try:
            while True:
                name, params = plan.send(rows)
                rows = await self._fetch(name, params, connection)
        except StopIteration as done:
            return done.value

    async def start(
        self,
        flow: FlowRef,
        input: Any,
        run_id: str | uuid.UUID | None = None,
        *,
        idempotency_key: str | None = None,
        priority: int | None = None,
        connection: psycopg.AsyncConnection[Any] | None = None,
    ) -> str:
        """Start one run; return its id (see ``Client.start``)."""
        slug, spec = self._flows.resolve(flow)
        check_input(spec, input)
        params = {"input": Jsonb(input), "run_id": run_id and _run_id(run_id)}
        try:
            trace = await self._trace(connection)
            name, params = _start_query(params, idempotency_key, trace, priority)
            plan = self._schemas.start(name, slug, spec, [("input", input)], params)
            row = await self._start(plan, connection)
        except FlowNotFound:  # translated from the constraint the core names
            raise FlowNotFound(flow_slug=slug) from None
        except RunExists:  # translated from the runs primary key
            raise RunExists(run_id=params["run_id"]) from None
        return str(row["run_id"])

    async def start_many(
        self,
        flow: FlowRef,
        inputs: Sequence[Any],
        *,
        idempotency_keys: Sequence[str | None] | None = None,
        priority: int | None = None,
        connection: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[str]:
        """Start one run per input in one round trip (see ``Client.start_many``)."""
        slug, spec = self._flows.resolve(flow)
        labelled = [(f"inputs[{i}]", value) for i, value in enumerate(inputs)]
        for label, value in labelled:
            check_input(spec, value, label)
        keys = _many_keys(inputs, idempotency_keys)
        if not inputs:
            return []
        params = {
            "flow_slug": slug,
            "inputs": Jsonb(list(inputs)),
            "idempotency_keys": keys,
            "priority": _check_priority(priority),
        }
        try:
            if keys is not None or priority is not None:
                name = "start_many_keyed"
            elif connection is not None:
                present = (await self._fetch("has_start_flows", None, connection))[0]["present"]
                name = "start_many" if present else "start_many_081"
            else:
                if not self._start_many:
                    present = (await self._fetch("has_start_flows"))[0]["present"]
                    self._start_many = "start_many" if present else "start_many_081"
                name = self._start_many
            plan = self._schemas.start(name, slug, spec, labelled, params)
            row = await self._start(plan, connection)
        except FlowNotFound:  # translated from the constraint the core names
            raise FlowNotFound(flow_slug=slug) from None
        return [str(run_id) for run_id in row["run_ids"]]

    async def input_schema(self, flow: FlowRef) -> Any:
        """Return the input_schema stored with a flow (see ``Client.input_schema``)."""
        slug, _ = self._flows.resolve(flow)
        rows = await self._fetch("flow_input_schema", {"flow_slug": slug})
        if not rows:
            raise FlowNotFound(flow_slug=slug)
        return rows[0]["input_schema"]

    async def get(self, run_id: str | uuid.UUID) -> Run:
        """Return a run with its step states and error (see ``Client.get``)."""
        rows = await self._fetch("get_run", {"run_id": _run_id(run_id)})
        if not rows or rows[0]["run"] is None or not rows[0]["run"].get("run"):
            raise RunNotFound(run_id=run_id)
        run = Run.from_json(rows[0]["run"])
        if run.status != "failed":
            return run
        return _with_error(run, await self._fetch("run_error", {"run_id": run.run_id}))

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
            if deadline is not None and timeout is not None and loop.time() >= deadline:
                raise _timeout(run_id, status, timeout, await self._run_live_workers(run_id))
            pause = delay if deadline is None else min(delay, max(0.0, deadline - loop.time()))
            await asyncio.sleep(pause)
            delay = min(delay * 1.5, 0.25)

    async def wait_many(
        self, run_ids: Iterable[str | uuid.UUID], timeout: float | None = None
    ) -> list[Run]:
        """Wait for many runs to finish; return them in order (see ``Client.wait_many``)."""
        ids = [_run_id(r) for r in run_ids]
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        delay = 0.005
        going = ids
        while True:
            going = _still_going(going, await self._fetch("run_statuses", {"run_ids": going}))
            if not going:
                return [await self.get(run_id) for run_id in ids]
            if deadline is not None and loop.time() >= deadline:
                raise _wait_many_timeout(ids, going, timeout or 0)
            pause = delay if deadline is None else min(delay, max(0.0, deadline - loop.time()))
            await asyncio.sleep(pause)
            delay = min(delay * 1.5, 0.25)

    async def result(self, run_id: str | uuid.UUID, timeout: float | None = None) -> Any:
        """Wait for a run and return its output (see ``Client.result``)."""
        return (await self.wait(run_id, timeout)).result()

    async def live_workers(self, flow: FlowRef) -> int | None:
        """Return how many live workers serve a flow (see ``Client.live_workers``)."""
        slug, _ = self._flows.resolve(flow)
        try:
            return int((await self._fetch("live_workers", {"flow_slug": slug}))[0]["live"])
        except CoreNotInstalled:
            return None

    async def _run_live_workers(self, run_id: str | uuid.UUID) -> list[dict[str, Any]]:
        try:
            return await self._fetch("run_live_workers", {"run_id": _run_id(run_id)})
        except CoreNotInstalled:  # a core without live_workers: it cannot tell
            return []

    async def cancel(self, run_id: str | uuid.UUID) -> Run:
        """Cancel a run (see ``Client.cancel``)."""
        run_id = _run_id(run_id)
        await self.status(run_id)
        await self._fetch("cancel_run", {"run_id": run_id})
        return await self.get(run_id)

    async def why(self, run_id: str | uuid.UUID) -> list[Reason]:
        """Return why each unfinished step or task of a run is not running (see ``Client.why``)."""
        rows = await self._fetch("explain_run", {"run_id": _run_id(run_id)})
        return [Reason(**row) for row in rows]

    async def retry(self, run_id: str | uuid.UUID) -> Run:
        """Retry a failed or cancelled run (see ``Client.retry``)."""
        run_id = _run_id(run_id)
        await self.status(run_id)
        await self._fetch("retry_run", {"run_id": run_id})
        return await self.get(run_id)

    async def signal(
        self, run_id: str | uuid.UUID, step: str, payload: Any, task_index: int = 0
    ) -> str:
        """Deliver a signal to a signal step of a run (see ``Client.signal``)."""
        run_id = _run_id(run_id)
        params: dict[str, Any] = {"run_id": run_id, "step_slug": step}
        check_signal(await self._fetch("signal_target", params), run_id, step, payload)
        params |= {"payload": Jsonb(payload), "task_index": task_index}
        return str((await self._fetch("deliver_signal", params))[0]["outcome"])

    async def prune(
        self,
        older_than: str | timedelta,
        *,
        batch_size: int = 1000,
        pause: float = 0.0,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> PruneResult:
        """Delete the runs that ended more than ``older_than`` ago, in bounded batches, each its
        own short transaction (see ``Client.prune``); ``pause`` seconds are awaited between
        batches.

        Raises:
            UsageError: ``older_than`` is not an interval or is negative, or ``batch_size < 1``.
        """
        _check_batch_size(batch_size)
        try:
            (row,) = await self._fetch("prune_cutoff", {"older_than": older_than})
        except DatabaseUnavailable:
            raise
        except DatabaseError as exc:
            raise UsageError(f"older_than is not an interval: {exc}") from None
        cutoff = _prune_cutoff(row, older_than)
        total = batches = 0
        after_started_at: datetime | None = None
        after_run_id: uuid.UUID | None = None
        while True:
            (batch,) = await self._fetch(
                "prune_batch",
                _prune_params(cutoff, batch_size, after_started_at, after_run_id),
            )
            total += batch["runs_deleted"]
            batches += 1
            if on_batch is not None:
                on_batch(batches, total)
            if batch["last_run_id"] is None:
                return PruneResult(total, batches, cutoff)
            after_started_at, after_run_id = batch["last_started_at"], batch["last_run_id"]
            if pause > 0:
                await asyncio.sleep(pause)

    async def runs(
        self,
        flow: str | None = None,
        status: str | None = None,
        limit: int | None = 20,
        *,
        parent: str | uuid.UUID | None = None,
    ) -> list[RunSummary]:
        """Return recent runs, newest first, or a run's children (see ``Client.runs``)."""
        query, params = _runs_query(flow, status, limit, parent)
        return [RunSummary.from_row(row) for row in await self._fetch(query, params)]

    async def children(self, run_id: str | uuid.UUID) -> list[RunSummary]:
        """Return every child run of a run (see ``Client.children``)."""
        return await self.runs(limit=None, parent=run_id)

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
