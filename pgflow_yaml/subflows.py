"""Checks across flows: what a sub-flow step (``flow: <slug>``) needs of the flows loaded with it.

A flow file alone cannot say whether the flow its sub-flow step runs exists, whether that flow
accepts the step's input, or whether a chain of sub-flow steps leads back to where it started;
the flows validated together can. :func:`check_subflows` reports (PGF343-PGF345, positioned at
the step's ``flow`` key):

- PGF343: the child flow is not among the flows loaded together;
- PGF344: the child's ``input_schema`` refuses every input the step can give it, when that is
  certain: a single step's input is always an object whose keys are ``run`` and the slugs of its
  dependencies, so a schema that wants another type, requires another key, or forbids ``run``
  is never satisfied (a map step's elements are not known, so it is not checked);
- PGF345: a flow that runs itself through any chain of sub-flow steps;
- PGF346: a map step over a single sub-flow step: a child run's output is an object (its leaf
  steps' outputs by slug), never the array a map step needs.

:func:`subflow_levels` gives each flow its distance from the flows it runs, so that compiled
migrations create children first. Works on the raw documents, as :mod:`pgflow_yaml.graph`;
nothing here touches a database.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx

from pgflow_yaml.diagnostics import Diagnostic, DocPath
from pgflow_yaml.graph import slug_problem
from pgflow_yaml.loader import SourceDoc
from pgflow_yaml.model import FlowSpec
from pgflow_yaml.schema import did_you_mean

__all__ = ["check_subflows", "child_flow_slugs", "subflow_levels"]


@dataclass(frozen=True)
class _Edge:
    """One sub-flow step: flow ``parent`` runs flow ``child`` in ``step``."""

    parent: str
    child: str
    doc: SourceDoc
    index: int
    step: dict[str, Any]

    @property
    def path(self) -> DocPath:
        return ("steps", self.index, "flow")

    @property
    def label(self) -> str:
        slug = self.step.get("slug")
        return f'step "{slug}"' if isinstance(slug, str) else f"step #{self.index + 1}"

    def diagnostic(self, code: str, message: str, hint: str | None) -> Diagnostic:
        return Diagnostic(code, message, self.doc.file, self.doc.span(self.path), self.path, hint)


def _edges(docs: Iterable[SourceDoc]) -> tuple[dict[str, SourceDoc], list[_Edge]]:
    flows: dict[str, SourceDoc] = {}
    edges: list[_Edge] = []
    for doc in docs:
        data = doc.data
        if not isinstance(data, dict) or not isinstance(data.get("slug"), str):
            continue
        flows.setdefault(data["slug"], doc)
        steps = data.get("steps")
        for i, step in enumerate(steps if isinstance(steps, list) else []):
            child = step.get("flow") if isinstance(step, dict) else None
            # a slug no flow can have is graph's to report (PGF342)
            if isinstance(child, str) and slug_problem(child, flow=True) is None:
                assert isinstance(step, dict)
                edges.append(_Edge(data["slug"], step["flow"], doc, i, step))
    return flows, edges


def child_flow_slugs(doc: SourceDoc) -> list[str]:
    """Return the slugs of the flows that the sub-flow steps of ``doc`` run, in step order
    (each once; a malformed slug is left out, as PGF342 reports it)."""
    return list(dict.fromkeys(edge.child for edge in _edges([doc])[1]))


def _names(keys: Iterable[str]) -> str:
    return ", ".join(json.dumps(k, ensure_ascii=False) for k in keys)


def _step_input_keys(step: dict[str, Any]) -> list[str]:
    deps = step.get("depends_on")
    slugs = [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else []
    return ["run", *slugs]


def _input_problem(edge: _Edge, schema: Any) -> str | None:
    """Return why no input of a single step can satisfy the child's ``input_schema``, when sure."""
    if "map" in edge.step:
        return None  # one element of an array: not known here
    keys = _step_input_keys(edge.step)
    given = f"the input of {edge.label} is an object with the keys {_names(keys)}"
    if schema is False:
        return f'flow "{edge.child}" accepts no input (input_schema: false)'
    if not isinstance(schema, dict):
        return None
    declared = schema.get("type")
    types = declared if isinstance(declared, list) else [declared]
    if declared is not None and "object" not in types:
        shown = " or ".join(str(t) for t in types)
        return f'flow "{edge.child}" wants an input of type {shown}, but {given}'
    required = schema.get("required")
    if isinstance(required, list):
        missing = [k for k in required if isinstance(k, str) and k not in keys]
        if missing:
            noun = "key" if len(missing) == 1 else "keys"
            return f'flow "{edge.child}" requires the input {noun} {_names(missing)}, but {given}'
    properties = schema.get("properties")
    if (
        schema.get("additionalProperties") is False
        and "patternProperties" not in schema
        and isinstance(properties, dict)
        and "run" not in properties
    ):
        return f'flow "{edge.child}" allows no input key "run", but {given}'
    return None


_INPUT_HINT = (
    'a sub-flow step gives its child the input a handler would get: {"run": <run input>, '
    '"<dependency>": <its output>, ...}; have the child read those keys, or make the step a '
    "map step over an array of ready-made inputs"
)


def _cycle(graph: nx.DiGraph[str], edge: _Edge) -> list[str] | None:
    """Return the loop ``parent -> child -> ... -> parent`` this edge closes, if any."""
    if edge.parent == edge.child:
        return [edge.parent, edge.parent]
    try:
        path: list[str] = nx.shortest_path(graph, edge.child, edge.parent)
    except nx.NetworkXNoPath:
        return None
    return [edge.parent, *path]


def _maps_over_a_child_run(edges: list[_Edge]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for edge in edges:
        if "map" in edge.step or not isinstance(edge.step.get("slug"), str):
            continue
        steps = edge.doc.data.get("steps")
        for i, step in enumerate(steps if isinstance(steps, list) else []):
            if isinstance(step, dict) and step.get("map") == edge.step["slug"]:
                path = ("steps", i, "map")
                slug = step.get("slug")
                label = f'step "{slug}"' if isinstance(slug, str) else f"step #{i + 1}"
                out.append(
                    Diagnostic(
                        "PGF346",
                        f"{label} maps over {edge.label}, whose output is the output of a child "
                        f'run of flow "{edge.child}": an object, never an array',
                        edge.doc.file,
                        edge.doc.span(path),
                        path,
                        "a run's output holds its leaf steps' outputs by slug; add a step that "
                        "picks the array out, and map over that step",
                    )
                )
    return out


def check_subflows(docs: Sequence[SourceDoc]) -> list[Diagnostic]:
    """Return the diagnostics of every sub-flow step of ``docs``, checked against all of them."""
    flows, edges = _edges(docs)
    if not edges:
        return []
    out: list[Diagnostic] = _maps_over_a_child_run(edges)
    graph: nx.DiGraph[str] = nx.DiGraph()
    for edge in edges:
        child_doc = flows.get(edge.child)
        if child_doc is None:
            others = sorted(slug for slug in flows if slug != edge.parent)
            hint = did_you_mean(edge.child, others) or (
                f'validate (and compile) flow "{edge.parent}" together with the file of flow '
                f'"{edge.child}" (`pgflow run` finds it in the folder of the parent\'s file '
                "or below)"
            )
            out.append(
                edge.diagnostic(
                    "PGF343",
                    f'{edge.label} runs flow "{edge.child}", which none of the files checked '
                    "together defines",
                    hint,
                )
            )
            continue
        graph.add_edge(edge.parent, edge.child)
        if "input_schema" in child_doc.data:
            problem = _input_problem(edge, child_doc.data["input_schema"])
            if problem is not None:
                out.append(edge.diagnostic("PGF344", problem, _INPUT_HINT))
    for edge in edges:
        if edge.child not in flows:
            continue
        loop = _cycle(graph, edge)
        if loop is not None:
            shown = " -> ".join(loop)
            out.append(
                edge.diagnostic(
                    "PGF345",
                    f'flow "{edge.parent}" runs itself through sub-flow steps: {shown}',
                    "a child run would start another without end; break the chain",
                )
            )
    return out


def subflow_levels(flows: Iterable[FlowSpec]) -> dict[str, int]:
    """Return each flow's level: 0 for a flow that runs no other flow (among ``flows``), else
    one more than the highest level of the flows it runs. Creating flows by increasing level
    creates every child before its parents. The flows must hold no cycle (PGF345)."""
    by_slug = {flow.slug: flow for flow in flows}
    levels: dict[str, int] = {}

    def level(slug: str, seen: frozenset[str]) -> int:
        if slug in levels:
            return levels[slug]
        children = [
            step.child_flow
            for step in by_slug[slug].steps
            if step.child_flow is not None
            and step.child_flow in by_slug
            and step.child_flow not in seen
        ]
        found = 1 + max((level(c, seen | {c}) for c in children), default=-1)
        levels[slug] = found
        return found

    for slug in by_slug:
        level(slug, frozenset({slug}))
    return levels
