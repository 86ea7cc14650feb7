"""Check a flow document against ``schemas/flow.schema.json`` and position every error.

``jsonschema`` finds the errors; this module turns each into a :class:`Diagnostic` at the
right place: a missing key at the mapping that lacks it, an unexpected key at the key itself
(with a "did you mean" hint), a wrong type or value at the value. Errors about slug rules,
option ranges, patterns and the input schema are left to :mod:`pgflow_yaml.graph`, which says
more about them than a schema can.

Validating with ``jsonschema`` costs milliseconds per file, so a hand-written check of the same
structure runs first; ``jsonschema`` only runs on documents that check rejects.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from functools import cache
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from pgflow_yaml.diagnostics import Diagnostic, DocPath
from pgflow_yaml.loader import SourceDoc
from pgflow_yaml.options import FLOW_KEYS, KEY, STEP_KEYS, WHEN_MODES, Key, Level, required
from pgflow_yaml.resources import schema_file

__all__ = [
    "FLOW_KEYS",
    "STEP_KEYS",
    "WHEN_MODES",
    "check_schema",
    "describe",
    "did_you_mean",
    "flow_schema",
    "schema_text",
]

# Keywords whose errors pgflow_yaml.graph reports in its own words (slug rules, ranges,
# handler form).
_GRAPH_OWNED = frozenset({"pattern", "maxLength", "minLength", "not", "minimum", "maximum"})
_JSON_TYPES = {
    "null": "null",
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "array": "a list",
    "object": "a mapping",
}


@cache
def schema_text() -> str:
    """Return the JSON Schema of a flow file, as shipped."""
    return schema_file().read_text(encoding="utf-8")


@cache
def flow_schema() -> dict[str, Any]:
    """Return the JSON Schema of a flow file, parsed."""
    schema: dict[str, Any] = json.loads(schema_text())
    return schema


def _is_strict_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


# JSON Schema counts 2.0 as an integer; a PostgreSQL integer column does not.
_StrictValidator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", _is_strict_integer
    ),
)


@cache
def _validator() -> Any:
    return _StrictValidator(flow_schema())


def _is_list_of_strings(value: Any) -> bool:
    return type(value) is list and all(type(v) is str for v in value)


def _fast_check(key: Key) -> Callable[[Any], bool]:
    """Return the type check of a key (pattern and input schema types are graph's to report)."""
    kind = key.kind
    if kind == "string":
        return lambda value: type(value) is str
    if kind == "integer":
        return lambda value: type(value) is int
    if kind == "string_list":
        return _is_list_of_strings
    if kind == "enum":
        return lambda value: type(value) is str and value in key.choices
    if kind == "signal":
        return lambda value: (
            type(value) is dict
            and set(value) <= {"schema"}
            and type(value.get("schema", True)) in (dict, bool)
        )
    if kind == "concurrency":  # ranges and the key path: pgflow_yaml.flow_control
        return lambda value: (
            type(value) is int
            or (
                type(value) is dict
                and "limit" in value
                and set(value) <= {"limit", "key"}
                and type(value["limit"]) is int
                and type(value.get("key", "")) is str
            )
        )
    if kind == "rate_limit":
        return lambda value: (
            type(value) is dict
            and {"limit", "per"} <= set(value) <= {"limit", "per", "key"}
            and type(value["limit"]) is int
            and type(value["per"]) is int
            and type(value.get("key", "")) is str
        )
    if kind == "steps":
        return lambda value: (
            type(value) is list and bool(value) and all(_fast_step_ok(step) for step in value)
        )
    return lambda value: True


_FLOW_CHECKS = {name: _fast_check(KEY[name]) for name in FLOW_KEYS}
_STEP_CHECKS = {name: _fast_check(KEY[name]) for name in STEP_KEYS}
_FLOW_REQUIRED = required("flow")
_STEP_REQUIRED = required("step")


def _fast_mapping_ok(
    data: Any, checks: dict[str, Callable[[Any], bool]], needed: tuple[str, ...]
) -> bool:
    if type(data) is not dict or any(key not in data for key in needed):
        return False
    for key, value in data.items():
        check = checks.get(key)
        if check is None or not check(value):
            return False
    return True


def _fast_ok(data: Any) -> bool:
    """Return True only when the schema (less graph-owned keywords) surely accepts ``data``."""
    return _fast_mapping_ok(data, _FLOW_CHECKS, _FLOW_REQUIRED)


def _fast_step_ok(step: Any) -> bool:
    return _fast_mapping_ok(step, _STEP_CHECKS, _STEP_REQUIRED)


def describe(value: Any) -> str:
    """Return a short description of a value for a message: ``a string ("5")``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int | float):
        return f"a number ({value})" if len(str(value)) <= 30 else "a number"
    if isinstance(value, str):
        shown = value if len(value) <= 30 else value[:27] + "..."
        return f"a string ({json.dumps(shown, ensure_ascii=False)})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """Return ``did you mean "x"?`` for the closest choice, if one is close enough."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close:
        close = [c for c in choices if c.lower() == word.lower()]
    return f'did you mean "{close[0]}"?' if close else None


def _name(path: DocPath) -> str:
    for part in reversed(path):
        if isinstance(part, str):
            return part
    return "the document"


def _value(error: ValidationError) -> Any:
    """Return the schema keyword's value of an error (typed loosely on purpose)."""
    return error.validator_value


def _level(path: DocPath) -> Level | None:
    """Return the level of the key a path ends in: ``flow`` for ``(key,)``, ``step`` for
    ``("steps", i, key)``, else ``None``."""
    if len(path) == 1:
        return "flow"
    if len(path) == 3 and path[0] == "steps" and isinstance(path[1], int):
        return "step"
    return None


def _owned_by_graph(error: ValidationError, path: DocPath) -> bool:
    if path and path[0] == "schedules":
        return True  # pgflow_yaml.schedules reports these with more precision
    if path and isinstance(path[0], str) and path[0] in KEY and KEY[path[0]].kind == "concurrency":
        return True  # pgflow_yaml.flow_control reports these
    if error.validator in _GRAPH_OWNED:
        return True
    if error.validator != "type":
        return False
    level = _level(path)
    if level is None or not isinstance(path[-1], str) or path[-1] not in KEY:
        return False
    key = KEY[path[-1]]
    return key.use(level) is not None and key.kind in ("pattern", "json_schema")


def check_schema(doc: SourceDoc) -> list[Diagnostic]:
    """Return a diagnostic for every way the document breaks the flow schema."""
    data = doc.data
    if _fast_ok(data):
        return []
    diagnostics: list[Diagnostic] = []
    required_done: set[DocPath] = set()
    for error in _validator().iter_errors(data):
        path: DocPath = tuple(error.absolute_path)
        if _owned_by_graph(error, path):
            continue
        if error.validator == "required":
            if path not in required_done:
                required_done.add(path)
                diagnostics.extend(_missing(doc, error, path))
        elif error.validator == "additionalProperties":
            diagnostics.extend(_unknown_keys(doc, error, path))
        else:
            diagnostics.append(_other(doc, error, path))
    return diagnostics


def _missing(doc: SourceDoc, error: ValidationError, path: DocPath) -> list[Diagnostic]:
    instance = error.instance
    required = _value(error)
    missing = [k for k in required if isinstance(instance, dict) and k not in instance]
    where = "the flow" if not path else f"step {_step_label(doc, path)}"
    span = doc.span(path)
    return [
        Diagnostic(
            "PGF201",
            f'{where} is missing the required key "{key}"',
            doc.file,
            span,
            path,
            KEY[key].hint if key in KEY else None,
        )
        for key in missing
    ]


def _step_label(doc: SourceDoc, path: DocPath) -> str:
    if len(path) >= 2 and path[0] == "steps" and isinstance(path[1], int):
        steps = doc.data.get("steps") if isinstance(doc.data, dict) else None
        if isinstance(steps, list) and path[1] < len(steps):
            step = steps[path[1]]
            if isinstance(step, dict) and isinstance(step.get("slug"), str):
                return json.dumps(step["slug"], ensure_ascii=False)
        return f"#{path[1] + 1}"
    return "?"


def _unknown_keys(doc: SourceDoc, error: ValidationError, path: DocPath) -> list[Diagnostic]:
    instance = error.instance
    if not isinstance(instance, dict):
        return []
    allowed = STEP_KEYS if path else FLOW_KEYS
    where = "in the flow" if not path else f"in step {_step_label(doc, path)}"
    out: list[Diagnostic] = []
    for key in instance:
        if key in allowed:
            continue
        hint = did_you_mean(key, allowed)
        if hint is None and not path and key in STEP_KEYS:
            hint = f'"{key}" is a step option; put it under a step'
        elif hint is None and path and key in FLOW_KEYS:
            hint = f'"{key}" is a flow option; put it at the top level'
        elif hint is None:
            hint = "allowed keys: " + ", ".join(allowed)
        out.append(
            Diagnostic(
                "PGF202",
                f"unknown key {json.dumps(key, ensure_ascii=False)} {where}",
                doc.file,
                doc.span((*path, key), key=True),
                (*path, key),
                hint,
            )
        )
    return out


def _other(doc: SourceDoc, error: ValidationError, path: DocPath) -> Diagnostic:
    span = doc.span(path)
    name = _name(path)
    value = error.instance
    if error.validator == "type":
        expected = _value(error)
        kinds = expected if isinstance(expected, list) else [expected]
        wanted = " or ".join(_JSON_TYPES.get(str(k), str(k)) for k in kinds)
        what = f"{name}[{path[-1]}]" if path and isinstance(path[-1], int) else name
        if not path:
            message = f"a flow file must hold a mapping at the top level, not {describe(value)}"
        else:
            message = f"{what} must be {wanted}, not {describe(value)}"
        hint = None
        if "integer" in kinds and isinstance(value, str) and value.strip().isdigit():
            hint = f"remove the quotes: {value.strip()}"
        elif "integer" in kinds and isinstance(value, float) and value.is_integer():
            hint = f"write it without a fraction: {int(value)}"
        elif not path:
            hint = "start with slug: and steps:"
        return Diagnostic("PGF203", message, doc.file, span, path, hint)
    if error.validator == "enum":
        choices = [str(c) for c in _value(error)]
        hint = did_you_mean(value, choices) if isinstance(value, str) else None
        message = f"{name} must be one of {', '.join(choices)}, not {describe(value)}"
        return Diagnostic("PGF204", message, doc.file, span, path, hint)
    if error.validator == "minItems":
        return Diagnostic(
            "PGF205",
            f"{name} must not be empty",
            doc.file,
            span,
            path,
            "a flow needs at least one step",
        )
    return Diagnostic("PGF209", f"{name}: {error.message}", doc.file, span, path)
