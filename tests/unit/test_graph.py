"""Every graph, slug, option, map and condition rule, one behaviour per test."""

from __future__ import annotations

import pytest

from pgflow_yaml.graph import slug_problem

from .helpers import check, codes, only, steps_yaml

A = "slug: a; handler: m.n:a"
B = "slug: b; handler: m.n:b"


def test_valid_dag_has_no_diagnostic() -> None:
    report = check(steps_yaml(A, B + "; depends_on: [a]", "slug: c; handler: m.n:c; map: a"))
    assert report.ok, report.render()
    assert report.flows[0].steps[2].deps == ("a",)


def test_unknown_dependency_with_suggestion() -> None:
    report = check(steps_yaml("slug: summarize; handler: m.n:a", B + "; depends_on: [summarise]"))
    diag = only(report, "PGF302")
    assert diag.message == 'step "b" depends on unknown step "summarise"'
    assert diag.hint == 'did you mean "summarize"?'
    assert (diag.line, diag.col) == (7, 18)
    assert diag.doc_path == ("steps", 1, "depends_on", 0)


def test_unknown_dependency_without_close_match_has_no_hint() -> None:
    diag = only(check(steps_yaml(A, B + "; depends_on: [zzzzzz]")), "PGF302")
    assert diag.hint is None


def test_forward_reference() -> None:
    report = check(steps_yaml(B + "; depends_on: [a]", A))
    diag = only(report, "PGF303")
    assert "listed after it (steps[1])" in diag.message
    assert (diag.line, diag.col) == (5, 18)


def test_self_dependency() -> None:
    diag = only(check(steps_yaml(A + "; depends_on: [a]")), "PGF304")
    assert diag.message == 'step "a" depends on itself'


def test_cycle_reports_the_whole_loop_once() -> None:
    report = check(
        steps_yaml(
            A + "; depends_on: [b]",
            B + "; depends_on: [c]",
            "slug: c; handler: m.n:c; depends_on: [a]",
        )
    )
    cycles = [d for d in report.diagnostics if d.code == "PGF305"]
    assert len(cycles) == 1
    assert cycles[0].message == "dependency cycle: a -> b -> c -> a"
    # the edge closing the loop: c depends on a
    assert cycles[0].doc_path == ("steps", 2, "depends_on", 0)
    assert sorted(d.code for d in report.diagnostics) == ["PGF303", "PGF303", "PGF305"]


def test_two_separate_cycles_are_two_diagnostics() -> None:
    report = check(
        steps_yaml(
            A + "; depends_on: [b]",
            B + "; depends_on: [a]",
            "slug: c; handler: m.n:c; depends_on: [d]",
            "slug: d; handler: m.n:d; depends_on: [c]",
        )
    )
    loops = sorted(d.message for d in report.diagnostics if d.code == "PGF305")
    assert loops == ["dependency cycle: a -> b -> a", "dependency cycle: c -> d -> c"]


def test_cycle_through_a_map_step() -> None:
    report = check(steps_yaml(A + "; map: b", B + "; depends_on: [a]"))
    assert "dependency cycle: a -> b -> a" in [d.message for d in report.diagnostics]


def test_duplicate_step_slug_points_at_the_second() -> None:
    diag = only(check(steps_yaml(A, "slug: a; handler: m.n:x")), "PGF301")
    assert diag.line == 5
    assert "steps[0] at line 3" in (diag.hint or "")


def test_duplicate_dependency_entry() -> None:
    diag = only(check(steps_yaml(A, B + "; depends_on: [a, a]")), "PGF316")
    assert diag.doc_path == ("steps", 1, "depends_on", 1)


@pytest.mark.parametrize(
    ("slug", "flow", "code"),
    [
        ("ok_slug", False, None),
        ("_private", False, None),
        ("Mixed9", True, None),
        ("my-step", False, "PGF307"),
        ("9lives", False, "PGF307"),
        ("", False, "PGF307"),
        ("sp ace", True, "PGF307"),
        ("é", False, "PGF307"),
        ("x" * 128, False, None),
        ("x" * 129, False, "PGF308"),
        ("x" * 47, True, None),
        ("x" * 48, True, "PGF308"),
        ("run", False, "PGF309"),
        ("run", True, "PGF309"),
        ("Run", False, None),
    ],
)
def test_slug_rules(slug: str, flow: bool, code: str | None) -> None:
    problem = slug_problem(slug, flow=flow)
    assert (problem[0] if problem else None) == code


def test_flow_slug_length_says_why() -> None:
    diag = only(check(steps_yaml(A, head=f"slug: {'q' * 48}\n")), "PGF308")
    assert "pgmq" in diag.message and "47" in diag.message


def test_bad_slug_suggests_a_fix() -> None:
    diag = only(check(steps_yaml("slug: my-step; handler: m.n:a")), "PGF307")
    assert diag.hint == 'did you mean "my_step"?'


@pytest.mark.parametrize(
    ("option", "value", "ok"),
    [
        ("max_attempts", 1, True),
        ("max_attempts", 0, False),
        ("base_delay", 1, True),
        ("base_delay", 0, False),
        ("timeout", 3, True),
        ("timeout", 2, False),
        ("start_delay", 0, True),
        ("start_delay", -1, False),
        ("timeout", 2_147_483_647, True),
        ("timeout", 2_147_483_648, False),
    ],
)
def test_step_option_ranges(option: str, value: int, ok: bool) -> None:
    report = check(steps_yaml(f"{A}; {option}: {value}"))
    assert report.ok is ok, report.render()
    if not ok:
        assert only(report, "PGF310").doc_path == ("steps", 0, option)


@pytest.mark.parametrize(("option", "value"), [("max_attempts", 0), ("timeout", 1)])
def test_flow_option_ranges(option: str, value: int) -> None:
    diag = only(check(steps_yaml(A, head=f"slug: f\n{option}: {value}\n")), "PGF310")
    assert "of the flow" in diag.message


def test_map_step_cannot_have_depends_on() -> None:
    diag = only(check(steps_yaml(A, B + "; map: a; depends_on: [a]")), "PGF311")
    assert (diag.line, diag.col) == (8, 5)


def test_map_step_with_empty_depends_on_is_fine() -> None:
    assert check(steps_yaml(A, B + "; map: a; depends_on: []")).ok


@pytest.mark.parametrize(
    ("input_schema", "ok"),
    [
        (None, True),
        ("{type: array, items: {type: string}}", True),
        ("{type: [array, 'null']}", True),
        ("{items: {type: string}}", True),
        ("{type: object}", False),
        ("{type: [object, string]}", False),
    ],
)
def test_root_map_needs_array_input(input_schema: str | None, ok: bool) -> None:
    head = "slug: f\n" + (f"input_schema: {input_schema}\n" if input_schema else "")
    report = check(steps_yaml(A + "; map: $input", head=head))
    assert report.ok is ok, report.render()
    if not ok:
        assert only(report, "PGF312").doc_path == ("steps", 0, "map")


def test_map_source_must_be_known_earlier_and_not_itself() -> None:
    assert codes(check(steps_yaml(A + "; map: zz")))[0][0] == "PGF302"
    assert only(check(steps_yaml(A + "; map: b", B)), "PGF303")
    assert only(check(steps_yaml(A + "; map: a")), "PGF304")
    hint = only(check(steps_yaml(A + "; map: $inpt")), "PGF302").hint
    assert hint == 'did you mean "$input"?'


def test_when_unmet_needs_a_condition() -> None:
    diag = only(check(steps_yaml(A, B + "; depends_on: [a]; when_unmet: skip")), "PGF313")
    assert diag.doc_path == ("steps", 1, "when_unmet")
    assert check(steps_yaml(A, B + "; depends_on: [a]; if_not: {a: 1}; when_unmet: fail")).ok


@pytest.mark.parametrize("pattern", ["[a]", "paid", "1", "null", "true"])
@pytest.mark.parametrize("key", ["if", "if_not"])
def test_patterns_must_be_objects(key: str, pattern: str) -> None:
    diag = only(check(steps_yaml(A, f"{B}; depends_on: [a]; {key}: {pattern}")), "PGF314")
    assert diag.doc_path == ("steps", 1, key)


def test_empty_pattern_is_an_object() -> None:
    assert check(steps_yaml(A + "; if: {}")).ok


@pytest.mark.parametrize(
    ("input_schema", "where"),
    [
        ("{type: strin}", ("input_schema", "type")),
        ("{type: object, required: order_id}", ("input_schema", "required")),
        ("{properties: {a: {minimum: x}}}", ("input_schema", "properties", "a", "minimum")),
        ("[a]", ("input_schema",)),
        ("7", ("input_schema",)),
    ],
)
def test_input_schema_must_be_a_json_schema(input_schema: str, where: tuple[str, ...]) -> None:
    report = check(steps_yaml(A, head=f"slug: f\ninput_schema: {input_schema}\n"))
    assert only(report, "PGF315").doc_path == where


def test_input_schema_type_typo_gets_a_suggestion() -> None:
    diag = only(check(steps_yaml(A, head="slug: f\ninput_schema: {type: strng}\n")), "PGF315")
    assert diag.hint == 'did you mean "string"?'


def test_input_schema_of_an_older_draft_is_checked_by_its_own_rules() -> None:
    draft7 = "http://json-schema.org/draft-07/schema#"
    head = f"slug: f\ninput_schema: {{$schema: '{draft7}', type: object}}\n"
    assert check(steps_yaml(A, head=head)).ok
    assert check(steps_yaml(A, head="slug: f\ninput_schema: true\n")).ok


def test_graph_checks_still_run_beside_schema_errors() -> None:
    report = check(steps_yaml(A + "; timeout: x", B + "; depends_on: [zz]; colour: red"))
    assert sorted(d.code for d in report.diagnostics) == ["PGF202", "PGF203", "PGF302"]


def test_input_schema_with_an_unknown_metaschema() -> None:
    head = "slug: f\ninput_schema: {$schema: 'http://example.com/mine', type: object}\n"
    diag = only(check(steps_yaml(A, head=head)), "PGF315")
    assert diag.doc_path == ("input_schema", "$schema")
    assert "unknown $schema" in diag.message


def test_input_schema_with_an_invalid_regular_expression() -> None:
    head = "slug: f\ninput_schema: {type: string, pattern: '(['}\n"
    diag = only(check(steps_yaml(A, head=head)), "PGF315")
    assert diag.doc_path == ("input_schema", "pattern")


def test_condition_naming_no_dependency_is_a_warning() -> None:
    report = check(steps_yaml(A, B + "; depends_on: [a]; if: {run: {x: 1}, a: {ok: true}}"))
    (diag,) = report.diagnostics
    assert (diag.code, diag.severity, diag.doc_path) == (
        "PGF317",
        "warning",
        ("steps", 1, "if", "run"),
    )
    assert "never met" in diag.message
    assert report.ok and report.exit_code == 0 and len(report.flows) == 1
    assert report.summary().endswith(", 1 warning")


def test_condition_typo_in_a_dependency_name() -> None:
    report = check(
        steps_yaml("slug: charge; handler: m.n:a", B + "; depends_on: [charge]; if_not: {chrge: 1}")
    )
    (diag,) = report.diagnostics
    assert "never excludes" in diag.message
    assert diag.hint == 'did you mean "charge"?'


def test_condition_of_a_map_step_sees_its_source() -> None:
    assert check(steps_yaml(A, B + "; map: a; if: {a: [1]}")).diagnostics == []
    assert check(steps_yaml(A + "; map: $input; if: {anything: 1}")).diagnostics == []


def test_condition_of_a_root_step_sees_the_run_input() -> None:
    assert check(steps_yaml(A + "; if: {order_id: 7}")).diagnostics == []
