"""Draw a flow's DAG as Mermaid, Graphviz DOT or plain text.

Map steps and conditional steps are marked in every format. Node names in Mermaid and DOT are
generated (``s0``, ``s1``...), so a slug never collides with a keyword of the target language;
every label is escaped for it. Nothing here touches a database.
"""

from __future__ import annotations

from collections.abc import Callable

from pgflow_yaml.compiler import json_text
from pgflow_yaml.model import FlowSpec, StepSpec

FORMATS = ("mermaid", "dot", "text")
INPUT_NODE = "run_input"


def _condition(step: StepSpec) -> str:
    parts = []
    if step.if_ is not None:
        parts.append(f"if {json_text(step.if_)}")
    if step.if_not is not None:
        parts.append(f"if_not {json_text(step.if_not)}")
    if parts:
        parts.append(f"else {step.when_unmet or 'skip'}")
    return ", ".join(parts)


def _node_ids(flow: FlowSpec) -> dict[str, str]:
    return {step.slug: f"s{i}" for i, step in enumerate(flow.steps)}


def _mermaid_text(text: str) -> str:
    replacements = {"&": "#amp;", '"': "#quot;", "<": "#lt;", ">": "#gt;"}
    return "".join(replacements.get(c, c) for c in text)


def to_mermaid(flow: FlowSpec) -> str:
    """Return a Mermaid flowchart: map steps as subroutines, conditional steps as hexagons."""
    ids = _node_ids(flow)
    lines = ["flowchart TD"]
    if any(step.is_root_map for step in flow.steps):
        lines.append(f'  {INPUT_NODE}(["run input"])')
    for step in flow.steps:
        label = step.slug + (" (map)" if step.map is not None else "")
        condition = _condition(step)
        if condition:
            label += f"<br/>{_mermaid_text(condition)}"
            lines.append(f'  {ids[step.slug]}{{{{"{label}"}}}}')
        elif step.map is not None:
            lines.append(f'  {ids[step.slug]}[["{label}"]]')
        else:
            lines.append(f'  {ids[step.slug]}["{label}"]')
    for step in flow.steps:
        if step.is_root_map:
            lines.append(f"  {INPUT_NODE} -->|map| {ids[step.slug]}")
        for dep in step.deps:
            arrow = "-->|map|" if step.map is not None else "-->"
            lines.append(f"  {ids[dep]} {arrow} {ids[step.slug]}")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_dot(flow: FlowSpec) -> str:
    """Return a Graphviz digraph: map steps as 3D boxes, conditional steps as dashed hexagons."""
    ids = _node_ids(flow)
    lines = [
        f'digraph "{_dot_text(flow.slug)}" {{',
        "  rankdir=TB;",
        '  node [shape=box, fontname="Helvetica"];',
    ]
    if any(step.is_root_map for step in flow.steps):
        lines.append(f'  {INPUT_NODE} [label="run input", shape=oval];')
    for step in flow.steps:
        label = step.slug + ("\n(map)" if step.map is not None else "")
        attributes = []
        condition = _condition(step)
        if condition:
            label += "\n" + condition
            attributes += ["shape=hexagon", "style=dashed"]
        elif step.map is not None:
            attributes.append("shape=box3d")
        attributes.insert(0, f'label="{_dot_text(label)}"')
        lines.append(f"  {ids[step.slug]} [{', '.join(attributes)}];")
    for step in flow.steps:
        if step.is_root_map:
            lines.append(f'  {INPUT_NODE} -> {ids[step.slug]} [label="map"];')
        for dep in step.deps:
            suffix = ' [label="map"]' if step.map is not None else ""
            lines.append(f"  {ids[dep]} -> {ids[step.slug]}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _levels(flow: FlowSpec) -> dict[str, int]:
    level: dict[str, int] = {}
    for step in flow.steps:  # list order is topological
        level[step.slug] = max((level[dep] + 1 for dep in step.deps), default=0)
    return level


def to_text(flow: FlowSpec) -> str:
    """Return the DAG as terminal text: one line per step, grouped by depth, with its inputs.

    Each line shows the step's index and slug, ``[map]`` for a map step, what it takes its
    input from (``<- a, b``; ``<- map over a``), and its condition.
    """
    level = _levels(flow)
    width = max((len(step.slug) for step in flow.steps), default=0)
    position = {step.slug: i for i, step in enumerate(flow.steps)}
    count = len(flow.steps)
    lines = [f"{flow.slug} ({count} step{'s' if count != 1 else ''})"]
    for depth in range(max(level.values(), default=-1) + 1):
        lines.append(f"  level {depth}")
        for step in flow.steps:
            if level[step.slug] != depth:
                continue
            kind = "[map]" if step.map is not None else "     "
            if step.is_root_map:
                source = "<- map over run input"
            elif step.map is not None:
                source = f"<- map over {step.map}"
            elif step.deps:
                source = "<- " + ", ".join(step.deps)
            else:
                source = "<- run input"
            line = f"    {position[step.slug]:>3}  {step.slug:<{width}}  {kind}  {source}"
            condition = _condition(step)
            if condition:
                line += f"  ({condition})"
            lines.append(line)
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[[FlowSpec], str]] = {
    "mermaid": to_mermaid,
    "dot": to_dot,
    "text": to_text,
}


def render_graph(flow: FlowSpec, fmt: str) -> str:
    """Return the flow's graph in ``fmt`` (``mermaid``, ``dot`` or ``text``).

    Raises:
        ValueError: ``fmt`` is not one of :data:`FORMATS`.
    """
    try:
        renderer = RENDERERS[fmt]
    except KeyError:
        raise ValueError(f"unknown graph format {fmt!r} (choose {', '.join(FORMATS)})") from None
    return renderer(flow)
