"""Validation of signal steps: exactly one of handler and signal, and a valid payload schema."""

from __future__ import annotations

from pgflow_yaml.validate import validate_source

from .helpers import check, codes, only, steps_yaml


def test_a_signal_step_validates_and_builds() -> None:
    text = steps_yaml(
        "slug: draft; handler: m.n:draft",
        "slug: approve; depends_on: [draft]; signal: {schema: {type: object}}; timeout: 600",
    )
    report = check(text)
    assert report.ok, report.render()
    (flow,) = report.flows
    approve = flow.steps[1]
    assert (approve.handler, approve.is_signal, approve.signal_schema) == (
        None,
        True,
        {"type": "object"},
    )
    assert approve.timeout == 600
    assert flow.steps[0].is_signal is False and flow.steps[0].signal_schema is None


def test_a_signal_without_schema_accepts_any_payload() -> None:
    (flow,) = check(steps_yaml("slug: go; signal: {}")).flows
    assert flow.steps[0].signal_schema is True


def test_handler_and_signal_together_are_refused_at_the_signal() -> None:
    report = check(steps_yaml("slug: go; handler: m.n:go; signal: {}"))
    diag = only(report, "PGF318")
    assert diag.message == 'step "go" has both a handler and a signal'
    assert (diag.line, diag.col) == (5, 5)


def test_neither_handler_nor_signal_is_a_missing_handler() -> None:
    report = check(steps_yaml("slug: a; handler: m.n:a", "slug: b; depends_on: [a]"))
    diag = only(report, "PGF201")
    assert diag.message == 'step "b" is missing the required key "handler"'
    assert (diag.line, diag.col) == (5, 5)


def test_an_invalid_payload_schema_is_positioned_in_it() -> None:
    report = check(steps_yaml("slug: go; signal: {schema: {type: strng}}"))
    diag = only(report, "PGF315")
    assert diag.message.startswith("signal schema is not a valid JSON Schema: 'strng'")
    assert diag.doc_path == ("steps", 0, "signal", "schema", "type")
    assert diag.hint == 'did you mean "string"?'


def test_unknown_keys_and_wrong_types_under_signal() -> None:
    assert [c[0] for c in codes(check(steps_yaml("slug: go; signal: {shema: {}}")))] == ["PGF202"]
    report = check(steps_yaml("slug: go; signal: yes"))
    assert [d.code for d in report.diagnostics] == ["PGF203"], report.render()


def test_build_flow_of_a_toml_signal_step() -> None:
    text = """slug = "t"

[[steps]]
slug = "wait"
signal = { schema = { type = "object" } }
"""
    report = validate_source(text, "t.toml")
    assert report.ok, report.render()
    assert report.flows[0].steps[0].signal == {"schema": {"type": "object"}}
