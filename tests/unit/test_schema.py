"""The JSON Schema and how its errors become positioned diagnostics."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgflow_yaml import schema
from pgflow_yaml.resources import schema_file

from .helpers import check, codes, only, steps_yaml

SHIPPED = json.loads(schema_file().read_text(encoding="utf-8"))


def test_schema_is_valid_2020_12_with_id() -> None:
    jsonschema.Draft202012Validator.check_schema(SHIPPED)
    assert SHIPPED["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SHIPPED["$id"].endswith("flow.schema.json")


def _objects(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            found.append(node)
        for value in node.values():
            found += _objects(value)
    elif isinstance(node, list):
        for value in node:
            found += _objects(value)
    return found


def test_every_property_is_described_and_closed() -> None:
    objects = _objects(SHIPPED)
    # the flow, the step, a step's signal, a schedule, a concurrency mapping and a rate_limit
    assert len(objects) == 6
    for obj in objects:
        assert obj["additionalProperties"] is False
        for name, prop in obj["properties"].items():
            assert prop.get("description"), name


def test_schema_keys_match_the_checker() -> None:
    assert tuple(SHIPPED["properties"]) == schema.FLOW_KEYS
    assert tuple(SHIPPED["$defs"]["step"]["properties"]) == schema.STEP_KEYS


def test_shipped_schema_is_the_repository_file() -> None:
    assert schema.schema_text() == schema_file().read_text(encoding="utf-8")


def test_unknown_step_key_points_at_the_key_with_a_suggestion() -> None:
    report = check(steps_yaml("slug: a; handler: m.n:f", "slug: b; handler: m.n:g; depnds_on: [a]"))
    diag = only(report, "PGF202")
    assert (diag.line, diag.col, diag.span.end_col) == (7, 5, 14)  # type: ignore[union-attr]
    assert diag.message == 'unknown key "depnds_on" in step "b"'
    assert diag.hint == 'did you mean "depends_on"?'
    assert diag.doc_path == ("steps", 1, "depnds_on")


def test_unknown_key_rendered_like_the_style_guide() -> None:
    report = check(steps_yaml("slug: a; handler: m.n:f; depnds_on: []"))
    text = report.render("text")
    assert 'flow.yaml:5:5: error[PGF202] unknown key "depnds_on" in step "a"' in text
    assert '    ^^^^^^^^^ did you mean "depends_on"?' in text
    assert "   = at steps[0].depnds_on" in text


def test_step_key_at_top_level_gets_a_placement_hint() -> None:
    report = check(steps_yaml("slug: a; handler: m.n:f", head="slug: f\nwhen_unmet: skip\n"))
    assert "step option" in (only(report, "PGF202").hint or "")


def test_missing_keys_point_at_the_parent_mapping() -> None:
    report = check("description: x\nsteps:\n  - slug: a\n  - handler: m.n:f\n")
    assert codes(report) == [("PGF201", 1, 1), ("PGF201", 3, 5), ("PGF201", 4, 5)]
    messages = [d.message for d in report.diagnostics]
    assert messages == [
        'the flow is missing the required key "slug"',
        'step "a" is missing the required key "handler"',
        'step #2 is missing the required key "slug"',
    ]


@pytest.mark.parametrize(
    ("line", "message", "hint"),
    [
        ("max_attempts: '3'", 'max_attempts must be an integer, not a string ("3")', "remove"),
        ("timeout: 2.0", "timeout must be an integer, not a number (2.0)", "fraction"),
        ("timeout: true", "timeout must be an integer, not a boolean (true)", None),
        ("description: [a]", "description must be a string, not a list", None),
    ],
)
def test_type_errors(line: str, message: str, hint: str | None) -> None:
    report = check(steps_yaml("slug: a; handler: m.n:f", head=f"slug: f\n{line}\n"))
    diag = only(report, "PGF203")
    assert diag.message == message
    assert (diag.line, diag.col) == (2, line.index(":") + 3)
    if hint:
        assert hint in (diag.hint or "")


def test_enum_error_suggests_the_closest_mode() -> None:
    report = check(steps_yaml("slug: a; handler: m.n:f; when_exhausted: skip_cascade"))
    diag = only(report, "PGF204")
    assert diag.hint == 'did you mean "skip-cascade"?'
    assert (diag.line, diag.col) == (5, 21)


def test_empty_steps() -> None:
    assert codes(check("slug: f\nsteps: []\n")) == [("PGF205", 2, 8)]


def test_root_must_be_a_mapping() -> None:
    diag = only(check("[1, 2]\n"), "PGF203")
    assert "top level" in diag.message


def test_every_error_in_one_run() -> None:
    report = check(
        steps_yaml(
            "slug: a; handler: m.n:f; timout: 5",
            "slug: b; handler: 5; depends_on: a",
            "slug: c; when_unmet: nope",
            head="slug: f\nmax_attempts: x\nextra: 1\n",
        )
    )
    got = sorted(d.code for d in report.diagnostics)
    assert got == ["PGF201", "PGF202", "PGF202", "PGF203", "PGF203", "PGF203", "PGF204", "PGF313"]


# The hand-written fast path must never accept what jsonschema rejects.
json_scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["", "a", "skip"])
values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["slug", "x", "type"]), inner, max_size=3)
    ),
    max_leaves=6,
)
step_values = st.fixed_dictionaries(
    {},
    optional={
        key: values | st.sampled_from(["a", 3, ["a"], "fail"]) for key in (*schema.STEP_KEYS, "zz")
    },
)
documents = st.fixed_dictionaries(
    {},
    optional={
        "slug": values | st.just("f"),
        "steps": st.lists(step_values, max_size=3) | values,
        "timeout": values | st.just(10),
        "input_schema": values,
        "description": values,
        "zz": values,
    },
)


@settings(max_examples=150, deadline=None)
@given(documents)
def test_fast_path_is_sound(data: Any) -> None:
    if schema._fast_ok(data):
        for error in schema._validator().iter_errors(data):
            assert schema._owned_by_graph(error, tuple(error.absolute_path)), error
