"""The validated model of a flow file.

Built only from data that passed every check (schema and graph), so code downstream (the
compiler, the worker) can trust it. Nothing here touches a database or a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ROOT_INPUT = "$input"
"""The ``map:`` value that maps over the run input instead of a step's output."""

DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_BASE_DELAY = 1
DEFAULT_TIMEOUT = 60

WhenMode = Literal["fail", "skip", "skip-cascade"]


@dataclass(frozen=True)
class Span:
    """A position in a source file, 1-based line and column (as shown to users)."""

    path: str
    line: int
    col: int
    end_line: int | None = None
    end_col: int | None = None


@dataclass(frozen=True)
class StepSpec:
    """One step of a flow, as declared (step options left ``None`` inherit the flow's)."""

    slug: str
    handler: str
    index: int
    description: str | None = None
    depends_on: tuple[str, ...] = ()
    map: str | None = None
    max_attempts: int | None = None
    base_delay: int | None = None
    timeout: int | None = None
    start_delay: int | None = None
    if_: dict[str, Any] | None = field(default=None, hash=False)
    if_not: dict[str, Any] | None = field(default=None, hash=False)
    when_unmet: WhenMode | None = None
    when_exhausted: WhenMode | None = None
    span: Span | None = field(default=None, compare=False)

    @property
    def step_type(self) -> Literal["single", "map"]:
        """Return ``"map"`` for a map step, else ``"single"`` (pgflow's ``step_type``)."""
        return "map" if self.map is not None else "single"

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


@dataclass(frozen=True)
class FlowSpec:
    """A whole flow: its options (defaults resolved) and its steps in list order."""

    slug: str
    steps: tuple[StepSpec, ...]
    description: str | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    base_delay: int = DEFAULT_BASE_DELAY
    timeout: int = DEFAULT_TIMEOUT
    input_schema: dict[str, Any] | None = field(default=None, hash=False)
    source_path: str | None = field(default=None, compare=False)
    source_sha256: str | None = field(default=None, compare=False)
    span: Span | None = field(default=None, compare=False)

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
            step.max_attempts if step.max_attempts is not None else self.max_attempts,
            step.base_delay if step.base_delay is not None else self.base_delay,
            step.timeout if step.timeout is not None else self.timeout,
        )
