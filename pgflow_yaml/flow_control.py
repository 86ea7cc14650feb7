"""Flow control in the definition layer: the ``concurrency`` check and the worst case of a run.

:func:`check_concurrency` reports what is wrong with a flow's ``concurrency`` value (PGF330,
PGF331). :func:`explain_flow` computes, from the flow file alone, how long one run can take at
worst: each step's worst case (every attempt running to its timeout, every retry backoff as
``pgflow.calculate_retry_delay`` computes it, and the start delay), the critical path through
the dependency graph, and the map steps whose concurrency limit serializes them (their worst
case depends on the number of elements, which no file knows). :func:`deadline_diagnostics`
turns a worst case over the flow's ``deadline`` into PGF332 (or PGF333 when it is unbounded),
positioned at ``deadline``. Nothing here touches a database.

The rules (docs/flow-control.md, "Worst case: pgflow explain and deadline"):

- a step with a handler: ``max_attempts × timeout`` + the backoff before each retry,
  ``min(floor(base_delay × 2^n), 2147483647)`` after failed attempt ``n`` (n = 1 ..
  max_attempts - 1), + ``start_delay``;
- a signal step waits once, at most its ``timeout`` (no retries, no start delay);
- a sub-flow step (``flow``) is bounded only by a ``timeout`` of its own, which each child run
  (attempt) gets: ``max_attempts × timeout`` + the backoff before each retry (no start delay,
  which sub-flow steps do not use); without one, nothing bounds its child runs, so its worst
  case is unbounded (``None``);
- a map step's tasks run side by side, so it takes as long as one task; with a step
  ``concurrency`` limit its elements run ``limit`` at a time, so its worst case is ``⌈n /
  limit⌉`` times one task's for ``n`` elements: unbounded from the file alone (``None``), its
  per-element figure still given;
- a step starts when the last of its dependencies finishes; the flow's worst case is the
  latest finish, the critical path the chain of steps that makes it (ending at the last listed
  step that finishes latest, going back through the dependency that finishes latest, the
  earliest listed on a tie).

The time a run waits ``queued`` behind its flow's concurrency limit, and the time a task waits
for a free worker or a step limit shared with other runs, are not counted: the worst case is
that of one run from its start, with enough workers.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from pgflow_yaml.diagnostics import Diagnostic
from pgflow_yaml.loader import SourceDoc
from pgflow_yaml.model import FlowSpec, StepSpec
from pgflow_yaml.options import FLOW_KEY_PATH_PATTERN, KEY, PG_INT_MAX, concurrency_value
from pgflow_yaml.schema import describe

__all__ = [
    "FlowWorstCase",
    "StepWorstCase",
    "check_concurrency",
    "deadline_diagnostics",
    "explain_flow",
    "format_seconds",
    "retry_delay",
]

_KEY_PATH = re.compile(FLOW_KEY_PATH_PATTERN.removesuffix("$") + r"\Z")
_CONCURRENCY_HINT = KEY["concurrency"].hint


def check_concurrency(doc: SourceDoc) -> list[Diagnostic]:
    """Return the problems of the flow's ``concurrency`` value (none when it is absent).

    PGF330: not an integer >= 1 nor a mapping with an integer ``limit >= 1`` and nothing but
    ``limit`` and ``key``; PGF331: a ``key`` that is not a dotted path of non-empty names.
    """
    data = doc.data
    if not isinstance(data, dict) or "concurrency" not in data:
        return []
    value = data["concurrency"]
    out: list[Diagnostic] = []

    def add(
        code: str, message: str, path: tuple[str | int, ...], hint: str | None, key: bool = False
    ) -> None:
        out.append(Diagnostic(code, message, doc.file, doc.span(path, key=key), path, hint))

    if isinstance(value, dict):
        for name in value:
            if name not in ("limit", "key"):
                shown = json.dumps(name, ensure_ascii=False)
                add(
                    "PGF330",
                    f"unknown key {shown} in the flow's concurrency",
                    ("concurrency", name),
                    "concurrency takes limit (required) and key",
                    key=True,
                )
        if "limit" not in value:
            add(
                "PGF330",
                "the flow's concurrency has no limit",
                ("concurrency",),
                _CONCURRENCY_HINT,
            )
        else:
            _check_limit(add, value["limit"], ("concurrency", "limit"))
        if "key" in value:
            key = value["key"]
            if not isinstance(key, str) or not _KEY_PATH.match(key):
                what = json.dumps(key, ensure_ascii=False) if isinstance(key, str) else None
                add(
                    "PGF331",
                    f"concurrency key {what} is not a dotted path of names"
                    if what is not None
                    else f"concurrency key must be a string, not {describe(key)}",
                    ("concurrency", "key"),
                    'a path into the run input, e.g. "customer_id" or "customer.region"',
                )
    else:
        _check_limit(add, value, ("concurrency",))
    return out


def _check_limit(add: Any, value: Any, path: tuple[str | int, ...]) -> None:
    if type(value) is not int:
        add(
            "PGF330",
            f"concurrency must be an integer or a mapping with limit and key, not {describe(value)}"
            if path == ("concurrency",)
            else f"the concurrency limit must be an integer, not {describe(value)}",
            path,
            _CONCURRENCY_HINT,
        )
    elif not 1 <= value <= PG_INT_MAX:
        add(
            "PGF330",
            f"the concurrency limit must be between 1 and {PG_INT_MAX}, got {value}",
            path,
            "1 runs the flow's runs one at a time",
        )


# --------------------------------------------------------------------------- the worst case


def retry_delay(base_delay: int, attempts_count: int) -> int:
    """Return the seconds before the next attempt after ``attempts_count`` failed ones, as
    ``pgflow.calculate_retry_delay`` computes them: ``floor(base × 2^n)``, capped at the
    largest PostgreSQL integer."""
    if attempts_count >= 62:  # far past the cap for any base >= 1
        return PG_INT_MAX
    return int(min(base_delay * 2**attempts_count, PG_INT_MAX))


def step_limit(step: StepSpec) -> dict[str, Any] | None:
    """Return a step's own ``concurrency`` limit in its stored form, or ``None``.

    Read through the registry (``concurrency`` is both a flow key, the runs of the flow, and a
    step key, the step's tasks; this is the step's); a value that is neither an integer nor a
    mapping with a ``limit`` counts as none.
    """
    key = KEY.get("concurrency")
    if key is None or key.step is None:
        return None
    value = step.options.get("concurrency")
    if isinstance(value, dict) and isinstance(value.get("limit"), int):
        return concurrency_value(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return concurrency_value(value)
    return None


@dataclass(frozen=True)
class StepWorstCase:
    """One step's share of the worst case (seconds).

    Attributes:
        slug: The step.
        kind: ``task`` (a handler run once), ``map`` (once per element), ``signal`` or
            ``flow`` (a sub-flow step: a child run per task).
        attempts: Attempts of each task (1 for a signal step).
        timeout: Seconds one attempt (or a signal's wait) may last; ``None`` for a sub-flow
            step without a timeout of its own (unbounded).
        start_delay: Seconds between the step becoming ready and its tasks becoming visible.
        retry_delays: The backoff before each retry, in order.
        per_task: One task from ready to its last attempt's end (one element of a map);
            ``None`` for an unbounded sub-flow step.
        worst_case: The whole step; ``None`` when unbounded (a map serialized by its limit, a
            sub-flow step without a timeout).
        start: When it starts at worst, after its dependencies (``None``: unbounded).
        finish: ``start + worst_case`` (``None``: unbounded).
        depends_on: The steps it waits for.
        serialized_by: The step ``concurrency`` limit that serializes a map, else ``None``.
        critical: On the critical path.
    """

    slug: str
    kind: str
    attempts: int
    timeout: int | None
    start_delay: int
    retry_delays: tuple[int, ...]
    per_task: int | None
    worst_case: int | None
    start: int | None
    finish: int | None
    depends_on: tuple[str, ...]
    serialized_by: dict[str, Any] | None = None
    critical: bool = False

    def to_json(self) -> dict[str, Any]:
        """Return the step as the ``pgflow explain --json`` record."""
        return {
            "slug": self.slug,
            "kind": self.kind,
            "attempts": self.attempts,
            "timeout": self.timeout,
            "start_delay": self.start_delay,
            "retry_delays": list(self.retry_delays),
            "per_task": self.per_task,
            "worst_case": self.worst_case,
            "start": self.start,
            "finish": self.finish,
            "depends_on": list(self.depends_on),
            "serialized_by": self.serialized_by,
            "critical": self.critical,
        }


@dataclass(frozen=True)
class FlowWorstCase:
    """The worst case of one run of a flow.

    Attributes:
        flow_slug: The flow.
        source_path: The file it came from.
        steps: Every step, in list order.
        worst_case: Seconds from the run's start to its end at worst (``None``: unbounded).
        critical_path: The steps whose chain makes the worst case, first to last.
        deadline: The flow's ``deadline`` (``None``: none).
        concurrency: The flow's runs limit (its queue time is not in the worst case).
        serialized_maps: The map steps a step limit serializes (unbounded).
        unbounded_subflows: The sub-flow steps without a timeout of their own (unbounded).
    """

    flow_slug: str
    source_path: str | None
    steps: tuple[StepWorstCase, ...]
    worst_case: int | None
    critical_path: tuple[str, ...]
    deadline: int | None = None
    concurrency: dict[str, Any] | None = None
    serialized_maps: tuple[str, ...] = field(default=())
    unbounded_subflows: tuple[str, ...] = field(default=())

    @property
    def within_deadline(self) -> bool | None:
        """Return whether the worst case fits the deadline (``None``: no deadline)."""
        if self.deadline is None:
            return None
        return self.worst_case is not None and self.worst_case <= self.deadline

    def to_json(self) -> dict[str, Any]:
        """Return the flow as the ``pgflow explain --json`` record."""
        return {
            "flow_slug": self.flow_slug,
            "file": self.source_path,
            "worst_case": self.worst_case,
            "deadline": self.deadline,
            "within_deadline": self.within_deadline,
            "critical_path": list(self.critical_path),
            "serialized_maps": list(self.serialized_maps),
            "unbounded_subflows": list(self.unbounded_subflows),
            "concurrency": self.concurrency,
            "steps": [step.to_json() for step in self.steps],
        }


def _step_case(
    flow: FlowSpec, step: StepSpec
) -> tuple[str, int, int | None, int, tuple[int, ...], int | None]:
    """Return ``(kind, attempts, timeout, start_delay, retry_delays, per_task)``; ``timeout``
    and ``per_task`` are ``None`` for a sub-flow step without a timeout of its own."""
    attempts, base_delay, timeout = flow.effective(step)
    if step.is_signal:
        return ("signal", 1, timeout, 0, (), timeout)
    delays = tuple(retry_delay(base_delay, n) for n in range(1, attempts))
    if step.is_subflow:  # the flow's timeout is a handler task's, not a child run's
        if step.timeout is None:
            return ("flow", attempts, None, 0, delays, None)
        return ("flow", attempts, step.timeout, 0, delays, attempts * step.timeout + sum(delays))
    start_delay = step.start_delay or 0
    per_task = attempts * timeout + sum(delays) + start_delay
    return (
        "map" if step.map is not None else "task",
        attempts,
        timeout,
        start_delay,
        delays,
        per_task,
    )


def explain_flow(flow: FlowSpec) -> FlowWorstCase:
    """Return the worst case of one run of ``flow``, step by step (see the module's rules)."""
    finish: dict[str, float] = {}
    start: dict[str, float] = {}
    partial: list[
        tuple[StepSpec, str, int, int | None, int, tuple[int, ...], int | None, float, Any]
    ] = []
    for step in flow.steps:
        kind, attempts, timeout, delay, delays, per_task = _step_case(flow, step)
        limit = step_limit(step) if kind == "map" else None
        duration: float = math.inf if limit is not None or per_task is None else per_task
        begins = max((finish[dep] for dep in step.deps), default=0.0)
        start[step.slug] = begins
        finish[step.slug] = begins + duration
        partial.append((step, kind, attempts, timeout, delay, delays, per_task, duration, limit))

    worst = max(finish.values(), default=0.0)
    path: list[str] = []
    if flow.steps:
        current: StepSpec | None = [s for s in flow.steps if finish[s.slug] == worst][-1]
        while current is not None:
            path.append(current.slug)
            deps = [flow.step(dep) for dep in current.deps]
            latest = max((finish[d.slug] for d in deps), default=None)
            current = (
                next(
                    (d for d in sorted(deps, key=lambda d: d.index) if finish[d.slug] == latest),
                    None,
                )
                if deps
                else None
            )
        path.reverse()

    def seconds(value: float) -> int | None:
        return None if math.isinf(value) else int(value)

    steps = tuple(
        StepWorstCase(
            slug=step.slug,
            kind=kind,
            attempts=attempts,
            timeout=timeout,
            start_delay=delay,
            retry_delays=delays,
            per_task=per_task,
            worst_case=seconds(duration),
            start=seconds(start[step.slug]),
            finish=seconds(finish[step.slug]),
            depends_on=step.deps,
            serialized_by=limit,
            critical=step.slug in path,
        )
        for step, kind, attempts, timeout, delay, delays, per_task, duration, limit in partial
    )
    return FlowWorstCase(
        flow_slug=flow.slug,
        source_path=flow.source_path,
        steps=steps,
        worst_case=seconds(worst),
        critical_path=tuple(path),
        deadline=flow.deadline,
        concurrency=flow.concurrency,
        serialized_maps=tuple(s.slug for s in steps if s.serialized_by is not None),
        unbounded_subflows=tuple(s.slug for s in steps if s.kind == "flow" and s.timeout is None),
    )


def format_seconds(seconds: int | None) -> str:
    """Return ``3725`` as ``1h 2m 5s`` (``None``: ``unbounded``)."""
    if seconds is None:
        return "unbounded"
    parts = []
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    for value, unit in ((days, "d"), (hours, "h"), (minutes, "m")):
        if value:
            parts.append(f"{value}{unit}")
    if secs or not parts:
        parts.append(f"{secs}s")
    return " ".join(parts)


def deadline_diagnostics(flow: FlowSpec, doc: SourceDoc) -> list[Diagnostic]:
    """Return PGF332 when the flow's worst case exceeds its ``deadline`` (PGF333 when the worst
    case is unbounded), positioned at ``deadline``; nothing without a deadline."""
    if flow.deadline is None:
        return []
    case = explain_flow(flow)
    if case.within_deadline:
        return []
    path = ("deadline",)
    span = doc.span(path)
    chain = " → ".join(case.critical_path)
    if case.worst_case is None:
        causes, hints = [], []
        if case.serialized_maps:
            maps = ", ".join(f'"{slug}"' for slug in case.serialized_maps)
            causes.append(f"map step {maps} runs its elements a few at a time (step concurrency)")
            hints.append("its worst case grows with the number of elements")
        if case.unbounded_subflows:
            subs = ", ".join(f'"{slug}"' for slug in case.unbounded_subflows)
            causes.append(f"sub-flow step {subs} has no timeout of its own")
            hints.append("a sub-flow step's own timeout bounds each of its child runs")
        return [
            Diagnostic(
                "PGF333",
                f"deadline {flow.deadline} s cannot be guaranteed: the worst case is unbounded, "
                f"as {' and '.join(causes)}",
                doc.file,
                span,
                path,
                "; ".join(hints) + "; see pgflow explain",
            )
        ]
    return [
        Diagnostic(
            "PGF332",
            f"the worst case of a run is {case.worst_case} s ({format_seconds(case.worst_case)}), "
            f"over the deadline of {flow.deadline} s",
            doc.file,
            span,
            path,
            f"critical path: {chain}; lower timeouts, attempts or delays there, or raise the "
            "deadline (pgflow explain shows each step's share)",
        )
    ]


def explain_paths(paths: Any) -> tuple[Any, list[FlowWorstCase]]:
    """Validate flow files (deadlines left out, so a flow over its deadline is explained too)
    and return ``(report, worst cases)``; the worst cases are empty when the report has errors.
    """
    from pgflow_yaml.validate import validate_paths

    report = validate_paths(paths, check_deadlines=False)
    if not report.ok:
        return report, []
    return report, [explain_flow(flow) for flow in report.flows]
