"""Check what a schema cannot: slugs, option ranges, the dependency graph, maps and conditions.

Works on the raw document (not the model) and skips any value whose type is wrong, since
:mod:`pgflow_yaml.schema` reports those; so both stages run on every file and one run reports
everything. The dependency graph goes through networkx only when some dependency points
forward: steps listed in dependency order cannot form a cycle.
"""

from __future__ import annotations

import json
import re
from collections.abc import Container
from functools import lru_cache
from typing import Any

import jsonschema
import networkx as nx
from jsonschema.exceptions import best_match

from pgflow_yaml.diagnostics import Diagnostic, DocPath
from pgflow_yaml.loader import SourceDoc
from pgflow_yaml.options import (
    INTEGER_KEYS,
    KEY,
    MAX_FLOW_SLUG_LENGTH,
    MAX_SLUG_LENGTH,
    PG_INT_MAX,
    ROOT_INPUT,
    SLUG_PATTERN,
    STEP_KEY_PATH_PATTERN,
)
from pgflow_yaml.options import RESERVED_SLUGS as _RESERVED
from pgflow_yaml.schema import did_you_mean

SLUG_RE = re.compile(SLUG_PATTERN.removesuffix("$") + r"\Z")
RESERVED_SLUGS = frozenset(_RESERVED)


def slug_problem(slug: str, *, flow: bool) -> tuple[str, str, str | None] | None:
    """Return ``(code, message, hint)`` when ``slug`` breaks the slug rules, else ``None``."""
    limit = MAX_FLOW_SLUG_LENGTH if flow else MAX_SLUG_LENGTH
    if len(slug) <= limit and slug not in RESERVED_SLUGS and SLUG_RE.match(slug):
        return None
    what = "flow slug" if flow else "step slug"
    shown = json.dumps(slug[:60] + ("..." if len(slug) > 60 else ""), ensure_ascii=False)
    if not SLUG_RE.match(slug):
        fixed = re.sub(r"[^a-zA-Z0-9_]", "_", slug)
        if not fixed or fixed[0].isdigit():
            fixed = "_" + fixed
        hint = f'did you mean "{fixed[:MAX_SLUG_LENGTH]}"?' if slug else None
        if not slug:
            return ("PGF307", f"{what} is empty", "give it a name")
        return (
            "PGF307",
            f"{what} {shown} may hold only letters, digits and underscores, "
            "and must not start with a digit",
            hint,
        )
    if len(slug) > limit:
        why = (
            " because it also names the flow's pgmq queue, and pgmq rejects longer queue names"
            if flow
            else ""
        )
        return (
            "PGF308",
            f"{what} {shown} is {len(slug)} characters long; at most {limit} are allowed{why}",
            "shorten it",
        )
    if slug in RESERVED_SLUGS:
        return (
            "PGF309",
            f'{what} "{slug}" is reserved: a step\'s input holds the run input under "run"',
            "choose another name",
        )
    return None


class _Checker:
    def __init__(self, doc: SourceDoc) -> None:
        self.doc = doc
        self.out: list[Diagnostic] = []

    def add(
        self, code: str, message: str, path: DocPath, hint: str | None = None, key: bool = False
    ) -> None:
        span = self.doc.span(path, key=key)
        self.out.append(Diagnostic(code, message, self.doc.file, span, path, hint))

    def slug(self, value: Any, path: DocPath, flow: bool) -> None:
        if isinstance(value, str):
            problem = slug_problem(value, flow=flow)
            if problem:
                self.add(problem[0], problem[1], path, problem[2])

    def options(self, holder: dict[str, Any], base: DocPath, label: str) -> None:
        for key in INTEGER_KEYS:
            value = holder.get(key.name)
            if type(value) is not int or key.minimum is None:
                continue
            if value < key.minimum:
                unit = f" {_units(key.minimum, key.unit)}" if key.unit else ""
                self.add(
                    "PGF310",
                    f"{key.name} of {label} must be at least {key.minimum}{unit}, got {value}",
                    (*base, key.name),
                    key.hint,
                )
            elif value > PG_INT_MAX:
                self.add(
                    "PGF310",
                    f"{key.name} of {label} must be at most {PG_INT_MAX} (a PostgreSQL integer)",
                    (*base, key.name),
                    "use a smaller number",
                )


def check_graph(doc: SourceDoc) -> list[Diagnostic]:
    """Return every graph, slug, option, map and condition problem of a document."""
    data = doc.data
    if not isinstance(data, dict):
        return []
    check = _Checker(doc)
    check.slug(data.get("slug"), ("slug",), flow=True)
    check.options(data, (), "the flow")
    input_schema = data.get("input_schema")
    if "input_schema" in data:
        _check_input_schema(check, input_schema)
    steps = data.get("steps")
    if not isinstance(steps, list):
        return check.out

    index_of: dict[str, int] = {}
    for i, step in enumerate(steps):
        if not isinstance(step, dict) or not isinstance(step.get("slug"), str):
            continue
        slug = step["slug"]
        check.slug(slug, ("steps", i, "slug"), flow=False)
        if slug in index_of:
            first = check.doc.span(("steps", index_of[slug], "slug"))
            check.add(
                "PGF301",
                f'duplicate step slug "{slug}"',
                ("steps", i, "slug"),
                f"first used by steps[{index_of[slug]}] at line {first.line}",
            )
        else:
            index_of[slug] = i

    known = list(index_of)
    edges: list[tuple[str, str, DocPath]] = []
    forward = False
    for i, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        slug = step.get("slug") if isinstance(step.get("slug"), str) else None
        label = f'step "{slug}"' if slug is not None else f"steps[{i}]"
        base: DocPath = ("steps", i)
        check.options(step, base, label)
        _check_kind(check, step, base, label)
        _check_flow_control(check, step, base, label)
        refs: list[tuple[str, DocPath, str]] = []
        deps = step.get("depends_on")
        if isinstance(deps, list):
            seen: set[str] = set()
            for j, dep in enumerate(deps):
                if not isinstance(dep, str):
                    continue
                if dep in seen:
                    check.add(
                        "PGF316",
                        f'{label} lists "{dep}" twice in depends_on',
                        (*base, "depends_on", j),
                        "remove the repeated entry",
                    )
                    continue
                seen.add(dep)
                refs.append((dep, (*base, "depends_on", j), "depends on"))
        source = step.get("map")
        if isinstance(source, str):
            if isinstance(deps, list) and deps:
                check.add(
                    "PGF311",
                    f"map {label} cannot also have depends_on",
                    (*base, "depends_on"),
                    "a map step gets its input from its map source only; "
                    "remove depends_on or make it a single step",
                    key=True,
                )
            if source == ROOT_INPUT:
                _check_root_map(check, input_schema, label, (*base, "map"))
            else:
                refs.append((source, (*base, "map"), "maps over"))
        for target, path, verb in refs:
            if slug is not None and target == slug:
                check.add(
                    "PGF304",
                    f"{label} {verb} itself",
                    path,
                    "a step cannot use its own output",
                )
            elif target not in index_of:
                choices = [*known, ROOT_INPUT] if verb == "maps over" else known
                hint = did_you_mean(target, choices)
                check.add("PGF302", f'{label} {verb} unknown step "{target}"', path, hint)
            else:
                if index_of[target] > i:
                    forward = True
                    check.add(
                        "PGF303",
                        f'{label} {verb} "{target}", which is listed after it '
                        f"(steps[{index_of[target]}])",
                        path,
                        f'list "{target}" before {label}: steps run in dependency order',
                    )
                if slug is not None:
                    edges.append((slug, target, path))
        _check_conditions(check, step, base, label, index_of)
    if forward:
        _check_cycles(check, edges, index_of)
    return check.out


_KEY_PATH = re.compile(STEP_KEY_PATH_PATTERN)


def _check_flow_control(check: _Checker, step: dict[str, Any], base: DocPath, label: str) -> None:
    """Check a step's ``concurrency`` and ``rate_limit`` (PGF320-PGF323); types are the schema's."""
    for name in ("concurrency", "rate_limit"):
        value = step.get(name)
        if value is None:
            continue
        if "signal" in step:
            check.add(
                "PGF323",
                f"{label} is a signal step: it has no tasks for {name} to limit",
                (*base, name),
                f"remove {name}, or give the step a handler instead of a signal",
                key=True,
            )
        numbers: list[tuple[str, Any, DocPath]] = []
        if name == "concurrency" and type(value) is int:
            numbers.append(("limit", value, (*base, name)))
        elif isinstance(value, dict):
            numbers += [
                (part, value[part], (*base, name, part))
                for part in ("limit", "per")
                if type(value.get(part)) is int
            ]
        for part, number, path in numbers:
            if not 1 <= number <= PG_INT_MAX:
                what = "seconds" if part == "per" else "tasks"
                check.add(
                    "PGF320",
                    f"{name} {part} of {label} must be between 1 and {PG_INT_MAX} {what}, "
                    f"got {number}",
                    path,
                    KEY[name].hint,
                )
        key = value.get("key") if isinstance(value, dict) else None
        if not isinstance(key, str):
            continue
        path = (*base, name, "key")
        if not _KEY_PATH.match(key):
            check.add(
                "PGF321",
                f"{name} key of {label} must be a dotted path into the step's input, got "
                f"{json.dumps(key)}",
                path,
                "e.g. run.customer_id (letters, digits, _, $ and - between the dots)",
            )
        elif "map" not in step:
            head = key.split(".")[0]
            deps = step.get("depends_on")
            seen = [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else []
            if head != "run" and head not in seen:
                check.add(
                    "PGF322",
                    f'{name} key of {label} starts with "{head}", which is neither "run" nor '
                    "one of its dependencies",
                    path,
                    did_you_mean(head, ["run", *seen])
                    or 'a step\'s input holds "run" and the output of each dependency',
                )


def _check_kind(check: _Checker, step: dict[str, Any], base: DocPath, label: str) -> None:
    """A step has exactly one of ``handler``, ``signal`` and ``flow``; a signal's schema must be
    valid, a child flow's slug a valid flow slug."""
    if "handler" in step and "signal" in step:
        check.add(
            "PGF318",
            f"{label} has both a handler and a signal",
            (*base, "signal"),
            "a signal step has no handler: it waits for pgflow.signal; remove one of them",
            key=True,
        )
    if "flow" in step and "handler" in step:
        check.add(
            "PGF340",
            f"{label} has both a handler and a flow",
            (*base, "flow"),
            "a sub-flow step has no handler: a child run of the flow does its work; "
            "remove one of them",
            key=True,
        )
    if "flow" in step and "signal" in step:
        check.add(
            "PGF341",
            f"{label} has both a signal and a flow",
            (*base, "flow"),
            "a step either waits for a signal or runs a child flow; remove one of them",
            key=True,
        )
    if "handler" not in step and "signal" not in step and "flow" not in step:
        check.add(
            "PGF201",
            f'{label} is missing the required key "handler"',
            base,
            KEY["handler"].hint,
        )
    signal = step.get("signal")
    if isinstance(signal, dict) and isinstance(signal.get("schema"), dict):
        _check_json_schema(check, signal["schema"], (*base, "signal", "schema"), "signal schema")
    child = step.get("flow")
    if isinstance(child, str):
        problem = slug_problem(child, flow=True)
        if problem is not None:
            _code, message, hint = problem
            check.add("PGF342", f"{label}: {message}", (*base, "flow"), hint)


def _units(count: int, unit: str) -> str:
    """Return ``unit`` ("seconds") for ``count`` of them: "1 second", "3 seconds"."""
    return unit[:-1] if count == 1 and unit.endswith("s") else unit


def _condition_deps(step: dict[str, Any]) -> list[str] | None:
    """Return the slugs a dependent step's condition sees, or None for a root step."""
    source = step.get("map")
    if isinstance(source, str):
        return None if source == ROOT_INPUT else [source]
    deps = step.get("depends_on")
    if isinstance(deps, list) and deps:
        return [d for d in deps if isinstance(d, str)]
    return None


def _condition_hint(name: str, deps: list[str], steps: Container[str]) -> str:
    """Say what a dependent step's condition can test, for a key ``name`` it cannot."""
    seen = ", ".join(f'"{d}"' for d in deps)
    if name in steps:
        return f'add "{name}" to depends_on to test its output; the condition sees only {seen}'
    if name == "run":
        return (
            f"a dependent step's condition sees its dependencies' outputs by slug ({seen}), not"
            ' the run input its handler gets under "run"; test the input in a root step'
        )
    return did_you_mean(name, deps) or f"the condition sees only its dependencies' outputs: {seen}"


def _check_conditions(
    check: _Checker, step: dict[str, Any], base: DocPath, label: str, steps: Container[str]
) -> None:
    deps = _condition_deps(step)
    for key in ("if", "if_not"):
        pattern = step.get(key)
        if isinstance(pattern, dict) and deps is not None:
            # A dependent step's condition is matched against {dep slug: output}: any other
            # top-level key makes "if" never met and "if_not" never effective.
            for name in pattern:
                if name in deps:
                    continue
                effect = "is never met" if key == "if" else "never excludes anything"
                check.out.append(
                    Diagnostic(
                        "PGF317",
                        f'{key} of {label} tests "{name}", which is not one of its dependencies, '
                        f"so the condition {effect}",
                        check.doc.file,
                        check.doc.span((*base, key, name), key=True),
                        (*base, key, name),
                        _condition_hint(name, deps, steps),
                        severity="warning",
                    )
                )
        if key in step and not isinstance(pattern, dict):
            check.add(
                "PGF314",
                f"{key} of {label} must be a JSON object (a mapping), not {_kind(step[key])}",
                (*base, key),
                "a pattern is matched by containment against the step input, "
                "e.g. {charge: {paid: true}}",
            )
    if "when_unmet" in step and "if" not in step and "if_not" not in step:
        check.add(
            "PGF313",
            f"{label} sets when_unmet but has no condition",
            (*base, "when_unmet"),
            "add if or if_not, or remove when_unmet",
            key=True,
        )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _check_root_map(check: _Checker, input_schema: Any, label: str, path: DocPath) -> None:
    if not isinstance(input_schema, dict) or "type" not in input_schema:
        return
    declared = input_schema["type"]
    types = declared if isinstance(declared, list) else [declared]
    if "array" in types:
        return
    shown = ", ".join(str(t) for t in types)
    check.add(
        "PGF312",
        f"{label} maps over the run input ($input), but input_schema says the input is "
        f"of type {shown}, not an array",
        path,
        "make input_schema type: array, or map over a step's output instead",
    )


@lru_cache(maxsize=256)
def _schema_errors(schema_json: str) -> tuple[tuple[DocPath, str], ...]:
    schema = json.loads(schema_json)
    cls: Any = jsonschema.Draft202012Validator
    if isinstance(schema, dict) and isinstance(schema.get("$schema"), str):
        cls = jsonschema.validators.validator_for(schema, default=None)  # type: ignore[arg-type]
        if cls is None:
            message = f"unknown $schema {json.dumps(schema['$schema'])[:80]}"
            return ((("$schema",), message),)
    # The format checker makes an invalid regular expression in "pattern" an error too.
    meta = cls(cls.META_SCHEMA, format_checker=cls.FORMAT_CHECKER)
    groups: dict[DocPath, list[Any]] = {}
    for error in meta.iter_errors(schema):
        groups.setdefault(tuple(error.absolute_path), []).append(error)
    found = []
    for path, errors in groups.items():
        chosen = best_match(errors)
        if chosen is not None:
            found.append((path, chosen.message))
    return tuple(found)


_DRAFT_2020 = "https://json-schema.org/draft/2020-12/schema"
_JSON_TYPE_NAMES = ["array", "boolean", "integer", "null", "number", "object", "string"]


def _check_input_schema(check: _Checker, schema: Any) -> None:
    if not isinstance(schema, dict | bool):
        check.add(
            "PGF315",
            f"input_schema must be a JSON Schema (a mapping or a boolean), not {_kind(schema)}",
            ("input_schema",),
            "e.g. input_schema: {type: object, required: [order_id]}",
        )
        return
    _check_json_schema(check, schema, ("input_schema",), "input_schema")


def _check_json_schema(check: _Checker, schema: Any, at: DocPath, name: str) -> None:
    """Report (PGF315) every way ``schema``, at ``at`` and called ``name``, is not valid."""
    try:
        errors = _schema_errors(json.dumps(schema, sort_keys=True))
    except (TypeError, ValueError, RecursionError) as exc:
        check.add("PGF315", f"{name} cannot be checked: {exc}", at)
        return
    for path, message in errors:
        hint = None
        value: Any = schema
        for part in path:
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and isinstance(part, int) and part < len(value):
                value = value[part]
            else:
                value = None
        if path and path[-1] == "type" and isinstance(value, str):
            hint = did_you_mean(value, _JSON_TYPE_NAMES)
        elif path == ("$schema",):
            hint = "leave it out for 2020-12, or use a draft's URI such as \"" + _DRAFT_2020 + '"'

        if len(message) > 200:
            message = message[:197] + "..."
        check.add("PGF315", f"{name} is not a valid JSON Schema: {message}", (*at, *path), hint)


def _check_cycles(
    check: _Checker, edges: list[tuple[str, str, DocPath]], index_of: dict[str, int]
) -> None:
    graph: nx.DiGraph[str] = nx.DiGraph()
    where: dict[tuple[str, str], DocPath] = {}
    for step, dep, path in edges:
        graph.add_edge(step, dep)
        where.setdefault((step, dep), path)
    for component in nx.strongly_connected_components(graph):
        if len(component) < 2:
            continue
        start = min(component, key=lambda s: index_of[s])
        cycle = nx.find_cycle(graph.subgraph(component), source=start)
        loop = [u for u, _ in cycle]
        pivot = loop.index(min(loop, key=lambda s: index_of[s]))
        loop = loop[pivot:] + loop[:pivot]
        shown = " -> ".join([*loop, loop[0]])
        # Point at the edge that closes the loop back to the earliest listed step.
        closing = where[(loop[-1], loop[0])]
        check.add(
            "PGF305",
            f"dependency cycle: {shown}",
            closing,
            "each step depends on the next one; remove one of these dependencies",
        )
