"""The validated model of a flow file.

Built only from data that passed every check (schema and graph), so code downstream (the
compiler, the worker) can trust it. Nothing here touches a database or a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pgflow_yaml.options import FLOW_OPTIONS, ROOT_INPUT, STEP_OPTIONS, concurrency_value

if TYPE_CHECKING:
    from pgflow_yaml.schedules import Schedule

__all__ = ["ROOT_INPUT", "FlowSpec", "Span", "StepSpec", "WhenMode"]

WhenMode = Literal["fail", "skip", "skip-cascade"]


@dataclass(frozen=True)
class Span:
    """A position in a source file, 1-based line and column (as shown to users)."""

    path: str
    line: int
    col: int
    end_line: int | None = None
    end_col: int | None = None


def _options(
    owner: str, names: frozenset[str], given: Mapping[str, Any] | None, values: dict[str, Any]
) -> dict[str, Any]:
    """Merge the ``options`` mapping and option keywords, leaving out the ``None`` values."""
    merged = dict(given or {})
    for name, value in values.items():
        if name not in names:
            raise TypeError(f"{owner}() got an unexpected keyword argument {name!r}")
        merged[name] = value
    return {name: value for name, value in merged.items() if value is not None}


_STEP_OPTION_NAMES = frozenset(key.name for key in STEP_OPTIONS)
_FLOW_OPTION_NAMES = frozenset(key.name for key in FLOW_OPTIONS)


@dataclass(frozen=True, init=False)
class StepSpec:
    """One step of a flow, as declared.

    ``options`` holds the in-place options (:data:`pgflow_yaml.options.STEP_OPTIONS`) the step
    sets itself; the ones it leaves out inherit the flow's. They can also be given as keywords
    (``StepSpec(..., timeout=30)``) and are read with :meth:`option` or, for the options the
    Python side uses, as attributes (``step.timeout``, ``None`` when inherited).
    """

    slug: str
    handler: str | None
    index: int
    description: str | None
    depends_on: tuple[str, ...]
    map: str | None
    if_: dict[str, Any] | None = field(hash=False)
    if_not: dict[str, Any] | None = field(hash=False)
    when_unmet: WhenMode | None
    when_exhausted: WhenMode | None
    options: Mapping[str, Any] = field(hash=False)
    signal: Mapping[str, Any] | None = field(hash=False)
    child_flow: str | None
    span: Span | None = field(compare=False)

    def __init__(
        self,
        slug: str,
        handler: str | None,
        index: int,
        *,
        description: str | None = None,
        depends_on: tuple[str, ...] = (),
        map: str | None = None,
        if_: dict[str, Any] | None = None,
        if_not: dict[str, Any] | None = None,
        when_unmet: WhenMode | None = None,
        when_exhausted: WhenMode | None = None,
        options: Mapping[str, Any] | None = None,
        signal: Mapping[str, Any] | None = None,
        child_flow: str | None = None,
        span: Span | None = None,
        **option_values: Any,
    ) -> None:
        fields = {
            "slug": slug,
            "handler": handler,
            "index": index,
            "description": description,
            "depends_on": depends_on,
            "map": map,
            "if_": if_,
            "if_not": if_not,
            "when_unmet": when_unmet,
            "when_exhausted": when_exhausted,
            "options": _options("StepSpec", _STEP_OPTION_NAMES, options, option_values),
            "signal": signal,
            "child_flow": child_flow,
            "span": span,
        }
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def option(self, name: str) -> Any:
        """Return the value the step sets for option ``name``, or ``None`` (inherited)."""
        return self.options.get(name)

    @property
    def max_attempts(self) -> int | None:
        """Return the step's own ``max_attempts`` (``None``: the flow's)."""
        return self.options.get("max_attempts")

    @property
    def base_delay(self) -> int | None:
        """Return the step's own ``base_delay`` (``None``: the flow's)."""
        return self.options.get("base_delay")

    @property
    def timeout(self) -> int | None:
        """Return the step's own ``timeout`` (``None``: the flow's)."""
        return self.options.get("timeout")

    @property
    def start_delay(self) -> int | None:
        """Return the step's ``start_delay`` (``None``: not set, 0 seconds)."""
        return self.options.get("start_delay")

    @property
    def step_type(self) -> Literal["single", "map"]:
        """Return ``"map"`` for a map step, else ``"single"`` (pgflow's ``step_type``)."""
        return "map" if self.map is not None else "single"

    @property
    def is_signal(self) -> bool:
        """Return True for a signal step (no handler: it waits for ``pgflow.signal``)."""
        return self.signal is not None

    @property
    def is_subflow(self) -> bool:
        """Return True for a sub-flow step (no handler: each task runs a child run of the flow
        ``child_flow``, the key ``flow`` of the file)."""
        return self.child_flow is not None

    @property
    def signal_schema(self) -> dict[str, Any] | bool | None:
        """Return the JSON Schema of a signal step's payload (``True``: any), else ``None``."""
        if self.signal is None:
            return None
        schema: dict[str, Any] | bool = self.signal.get("schema", True)
        return schema

    @property
    def deps(self) -> tuple[str, ...]:
        """Return the slugs this step depends on (a dependent map's source included)."""
        if self.map is not None and self.map != ROOT_INPUT:
            return (self.map,)
        return self.depends_on

    @property
    def is_root_map(self) -> bool:
        """Return True when the step maps over the run input."""
        return self.map == ROOT_INPUT


@dataclass(frozen=True, init=False)
class FlowSpec:
    """A whole flow: its options (defaults resolved) and its steps in list order.

    ``options`` holds every flow option (:data:`pgflow_yaml.options.FLOW_OPTIONS`), the ones
    the file leaves out at their defaults (an option without a default, such as
    ``input_schema``, is left out); they can be given as keywords too
    (``FlowSpec(slug, steps, timeout=30, input_schema={...})``). ``concurrency`` is kept in its
    stored form (``{"limit": N}`` or ``{"limit": N, "key": "a.b"}``). ``deadline`` (seconds, or
    ``None``) is only in the file: ``pgflow validate`` checks the worst case against it.
    """

    slug: str
    steps: tuple[StepSpec, ...]
    description: str | None
    options: Mapping[str, Any] = field(hash=False)
    schedules: tuple[Schedule, ...] = field(hash=False)
    deadline: int | None
    source_path: str | None = field(compare=False)
    source_sha256: str | None = field(compare=False)
    span: Span | None = field(compare=False)

    def __init__(
        self,
        slug: str,
        steps: tuple[StepSpec, ...],
        *,
        description: str | None = None,
        options: Mapping[str, Any] | None = None,
        schedules: tuple[Schedule, ...] = (),
        deadline: int | None = None,
        source_path: str | None = None,
        source_sha256: str | None = None,
        span: Span | None = None,
        **option_values: Any,
    ) -> None:
        given = _options("FlowSpec", _FLOW_OPTION_NAMES, options, option_values)
        if "concurrency" in given:
            given["concurrency"] = concurrency_value(given["concurrency"])
        fields = {
            "slug": slug,
            "steps": steps,
            "description": description,
            "options": {
                key.name: value
                for key in FLOW_OPTIONS
                if (value := given.get(key.name, key.default)) is not None
            },
            "schedules": tuple(schedules),
            "deadline": deadline,
            "source_path": source_path,
            "source_sha256": source_sha256,
            "span": span,
        }
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    @property
    def max_attempts(self) -> int:
        """Return the flow's ``max_attempts``."""
        return int(self.options["max_attempts"])

    @property
    def base_delay(self) -> int:
        """Return the flow's ``base_delay``."""
        return int(self.options["base_delay"])

    @property
    def timeout(self) -> int:
        """Return the flow's ``timeout``."""
        return int(self.options["timeout"])

    @property
    def input_schema(self) -> dict[str, Any] | bool | None:
        """Return the JSON Schema every run's input must satisfy (``None``: none)."""
        return self.options.get("input_schema")

    @property
    def concurrency(self) -> dict[str, Any] | None:
        """Return the runs limit, ``{"limit": N}`` or ``{"limit": N, "key": "a.b"}`` (``None``:
        no limit)."""
        value: dict[str, Any] | None = self.options.get("concurrency")
        return value

    def option(self, name: str, step: StepSpec | None = None) -> Any:
        """Return the value of option ``name`` for the flow, or for ``step`` after inheritance.

        A step option the flow does not have (``start_delay``) is ``None`` when the step
        leaves it out.
        """
        if step is not None and step.option(name) is not None:
            return step.option(name)
        return self.options.get(name)

    def step(self, slug: str) -> StepSpec:
        """Return the step named ``slug``.

        Raises:
            KeyError: no step has that slug.
        """
        for step in self.steps:
            if step.slug == slug:
                return step
        raise KeyError(slug)

    def effective(self, step: StepSpec) -> tuple[int, int, int]:
        """Return ``(max_attempts, base_delay, timeout)`` of a step after inheritance."""
        return (
            self.option("max_attempts", step),
            self.option("base_delay", step),
            self.option("timeout", step),
        )
