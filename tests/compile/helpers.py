"""Flows built by hand and small database helpers for the compile tests."""

from __future__ import annotations

from typing import Any

import psycopg

from pgflow_yaml.compiler import compile_flow
from pgflow_yaml.model import FlowSpec, StepSpec

TIMESTAMP = "20260101120000"


def step(slug: str, index: int, **fields: Any) -> StepSpec:
    """Return a step whose handler is named after its slug."""
    if "depends_on" in fields:
        fields["depends_on"] = tuple(fields["depends_on"])
    return StepSpec(slug=slug, handler=f"pkg.mod:{slug}", index=index, **fields)


def flow(slug: str, *steps: dict[str, Any], **options: Any) -> FlowSpec:
    """Return a flow of the given steps, each a dict of StepSpec fields with its ``slug``."""
    built = tuple(step(index=i, **fields) for i, fields in enumerate(steps))
    options.setdefault("source_path", f"flows/{slug}.yaml")
    options.setdefault("source_sha256", "0" * 64)
    return FlowSpec(slug=slug, steps=built, **options)


def order_pipeline(**options: Any) -> FlowSpec:
    """Return the example order pipeline (a map, a condition, step options)."""
    return flow(
        "order_pipeline",
        {"slug": "check"},
        {"slug": "charge", "depends_on": ["check"], "max_attempts": 5, "timeout": 30},
        {"slug": "ship_item", "map": "check"},
        {
            "slug": "receipt",
            "depends_on": ["charge", "ship_item"],
            "if_": {"charge": {"paid": True}},
            "when_unmet": "skip",
            "when_exhausted": "fail",
        },
        **options,
    )


def apply(conn: psycopg.Connection[Any], spec: FlowSpec) -> None:
    """Apply the compiled migration of ``spec`` in one transaction."""
    conn.execute(compile_flow(spec, timestamp=TIMESTAMP).sql)


def definition_rows(conn: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    """Return every row of flows, steps and deps (without timestamps), in a stable order."""
    return {
        "flows": conn.execute(
            "select flow_slug, opt_max_attempts, opt_base_delay, opt_timeout"
            " from pgflow.flows order by flow_slug"
        ).fetchall(),
        "steps": conn.execute(
            "select flow_slug, step_slug, step_index, step_type, deps_count, opt_max_attempts,"
            " opt_base_delay, opt_timeout, opt_start_delay, required_input_pattern,"
            " forbidden_input_pattern, when_unmet, when_exhausted"
            " from pgflow.steps order by flow_slug, step_index"
        ).fetchall(),
        "deps": conn.execute(
            "select flow_slug, dep_slug, step_slug from pgflow.deps order by 1, 3, 2"
        ).fetchall(),
    }


def edge_case_flows() -> dict[str, FlowSpec]:
    """Return flows that stress the compiler, by name (golden file stem)."""
    long_flow = "f" * 47  # the longest flow slug pgmq accepts as a queue name
    long_step = "s" * 128  # the longest step slug pgflow accepts
    tricky = {
        "quote's": 'it\'s "quoted"',
        "back\\slash": "C:\\path\\n",
        "ünïcödé": "日本語 ✓ 🚀",
        "nested": {"list": [1, "two", None, True], "empty": {}},
        "$pgflow_guard$": "$$ dollar $$",
    }
    return {
        "long_slugs": flow(
            long_flow,
            {"slug": long_step},
            {"slug": "a" + "_" * 127, "depends_on": [long_step]},
            {"slug": "Mixed_Case_9", "map": long_step},
        ),
        "quotes_and_unicode": flow(
            "quotes_and_unicode",
            {"slug": "start"},
            {
                "slug": "gate",
                "depends_on": ["start"],
                "if_": {"start": tricky},
                "if_not": {"start": {"note": "'; drop table pgflow.flows; --"}},
                "when_unmet": "skip-cascade",
                "when_exhausted": "skip",
            },
            description='It\'s a "test" with back\\slashes,\nnew lines\r\nand ünïcödé ✓',
            source_path="flows/it's ünïcödé\nname.yaml",
        ),
        "many_steps": many_steps(200),
        "options_everywhere": flow(
            "options_everywhere",
            {"slug": "first", "max_attempts": 1, "base_delay": 2, "timeout": 3, "start_delay": 0},
            {"slug": "second", "depends_on": ["first"], "start_delay": 3600},
            {"slug": "fan", "map": "$input", "timeout": 900},
            max_attempts=10,
            base_delay=7,
            timeout=120,
        ),
    }


def many_steps(count: int, slug: str = "many_steps") -> FlowSpec:
    """Return a flow of ``count`` steps, each depending on up to three earlier ones."""
    steps: list[dict[str, Any]] = []
    for i in range(count):
        deps = [f"step_{j:03d}" for j in (i - 1, i - 7, i - 31) if j >= 0]
        spec: dict[str, Any] = {"slug": f"step_{i:03d}", "depends_on": deps}
        if i % 10 == 5:
            spec = {"slug": f"step_{i:03d}", "map": f"step_{i - 1:03d}"}
        steps.append(spec)
    return flow(slug, *steps)
