"""The shape of a flow: what must match between a flow file and the database.

The shape is pgflow's JSON (``_get_flow_shape`` upstream): steps in list order (their
``step_index``), each with its slug, type, sorted dependencies, condition modes and patterns,
plus the options. ``pgflow.compare_flow_shape(flow_slug, shape)`` compares it with what the
database holds; options travel with the shape but are not part of it (they may change in
place). Nothing here touches a database.
"""

from __future__ import annotations

from typing import Any

from pgflow_yaml.model import FlowSpec, StepSpec
from pgflow_yaml.options import FLOW_OPTIONS, KEY, STEP_OPTIONS, shape_name, stored_values

DEFAULT_WHEN_UNMET: str = KEY["when_unmet"].default
DEFAULT_WHEN_EXHAUSTED: str = KEY["when_exhausted"].default


def _pattern(value: dict[str, Any] | None) -> dict[str, Any]:
    if value is None:
        return {"defined": False}
    return {"defined": True, "value": value}


def step_options(step: StepSpec) -> dict[str, Any]:
    """Return the options a step sets itself (the ones it inherits from the flow are left out),
    each stored field under its own name (``concurrency`` as ``concurrencyLimit`` and
    ``concurrencyKey``, as the database's ``opt_*`` columns)."""
    options: dict[str, Any] = {}
    for key in STEP_OPTIONS:
        value = step.option(key.name)
        if value is None:
            continue
        for field, stored in stored_values(key, value, "step").items():
            if stored is not None:
                options[shape_name(field)] = stored
    return options


def flow_options(flow: FlowSpec) -> dict[str, Any]:
    """Return the flow-level options, defaults resolved (``inputSchema`` only when it has one,
    as the database leaves out a null ``opt_*`` column; an option pgflow 0.8.1 lacks only when
    it is not its default, as the compiler stores it then only)."""
    return {
        key.shape_key: flow.option(key.name)
        for key in FLOW_OPTIONS
        if flow.option(key.name) is not None
        and not (key.needs_core and flow.option(key.name) == key.default)
    }


def step_shape(step: StepSpec) -> dict[str, Any]:
    """Return the shape of one step (pgflow's camelCase keys; ``signal: true`` on a signal
    step and ``flow: <child slug>`` on a sub-flow step, left out otherwise as pgflow 0.8.1 has
    no such keys)."""
    shape: dict[str, Any] = {
        "slug": step.slug,
        "stepType": step.step_type,
        "dependencies": sorted(step.deps),
        "whenUnmet": step.when_unmet or DEFAULT_WHEN_UNMET,
        "whenExhausted": step.when_exhausted or DEFAULT_WHEN_EXHAUSTED,
        "requiredInputPattern": _pattern(step.if_),
        "forbiddenInputPattern": _pattern(step.if_not),
        "options": step_options(step),
    }
    if step.is_signal:
        shape["signal"] = True
    if step.child_flow is not None:
        shape["flow"] = step.child_flow
    return shape


def flow_shape(flow: FlowSpec) -> dict[str, Any]:
    """Return the shape JSON of a flow, as ``pgflow.compare_flow_shape`` expects it.

    Steps come in list order (the order ``add_step`` gives them their index); dependencies
    are sorted by code point, which is how the database side sorts them too (``collate "C"``).
    """
    return {"steps": [step_shape(step) for step in flow.steps], "options": flow_options(flow)}
