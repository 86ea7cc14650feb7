"""Validation of sub-flow steps: one kind per step, checks across the flows loaded together."""

from __future__ import annotations

import textwrap
from pathlib import Path

from pgflow_yaml.compiler import compile_flow, compile_paths
from pgflow_yaml.shape import step_shape
from pgflow_yaml.validate import ValidationReport, validate_paths

from .helpers import check, only, steps_yaml

CHILD = """\
slug: enrich_customer
input_schema:
  type: object
  required: [run]
steps:
  - slug: lookup
    handler: crm.steps:lookup
"""

PARENT = """\
slug: onboard
steps:
  - slug: prep
    handler: crm.steps:prep
  - slug: enrich
    depends_on: [prep]
    flow: enrich_customer
"""


def _files(tmp_path: Path, **files: str) -> list[Path]:
    paths = []
    for name, text in files.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        paths.append(path)
    return paths


def _validate(tmp_path: Path, **files: str) -> ValidationReport:
    return validate_paths(_files(tmp_path, **files))


def test_a_subflow_step_validates_with_its_child_and_builds(tmp_path: Path) -> None:
    report = _validate(tmp_path, child=CHILD, parent=PARENT)
    assert report.ok, report.render()
    parent = next(f for f in report.flows if f.slug == "onboard")
    enrich = parent.step("enrich")
    assert (enrich.handler, enrich.child_flow, enrich.is_subflow) == (None, "enrich_customer", True)
    assert parent.step("prep").is_subflow is False
    assert step_shape(enrich)["flow"] == "enrich_customer"
    assert "flow" not in step_shape(parent.step("prep"))


def test_compiled_add_step_names_the_child_and_the_header_needs_the_core(tmp_path: Path) -> None:
    report = _validate(tmp_path, child=CHILD, parent=PARENT)
    parent = next(f for f in report.flows if f.slug == "onboard")
    sql = compile_flow(parent, timestamp="20260101000000").sql
    assert "child_flow_slug => 'enrich_customer'" in sql
    assert "flow (sub-flow steps) on enrich" in sql


def test_compile_orders_children_first_by_file_name(tmp_path: Path) -> None:
    grandchild = "slug: a_leaf\nsteps:\n  - slug: x\n    handler: m.n:x\n"
    child = "slug: b_mid\nsteps:\n  - slug: y\n    flow: a_leaf\n"
    parent = "slug: c_top\nsteps:\n  - slug: z\n    flow: b_mid\n  - slug: w\n    flow: a_leaf\n"
    # listed parent first: the order of the files must not matter
    paths = _files(tmp_path, top=parent, mid=child, leaf=grandchild)
    result = compile_paths(paths, timestamp="20260101235959")
    assert result.exit_code == 0, result.report.render()
    names = [m.filename for m in result.migrations]
    assert names == [
        "20260101235959_create_a_leaf_flow.sql",
        "20260102000000_create_b_mid_flow.sql",
        "20260102000001_create_c_top_flow.sql",
    ]
    assert sorted(names) == names


def test_handler_and_flow_together_are_refused_at_the_flow() -> None:
    report = check(steps_yaml("slug: go; handler: m.n:go; flow: go_child"))
    diags = [d for d in report.diagnostics if d.code == "PGF340"]
    assert len(diags) == 1, report.render()
    assert diags[0].message == 'step "go" has both a handler and a flow'
    assert (diags[0].line, diags[0].col) == (5, 5)


def test_signal_and_flow_together_are_refused_at_the_flow() -> None:
    report = check(steps_yaml("slug: go; signal: {}; flow: f"))
    assert "PGF341" in [d.code for d in report.diagnostics], report.render()
    diag = next(d for d in report.diagnostics if d.code == "PGF341")
    assert diag.message == 'step "go" has both a signal and a flow'
    assert diag.doc_path == ("steps", 0, "flow")


def test_a_child_flow_slug_must_be_a_flow_slug() -> None:
    report = check(steps_yaml("slug: go; flow: not-a-slug"))
    diag = only(report, "PGF342")
    assert diag.message.startswith('step "go": flow slug "not-a-slug" may hold only letters')
    assert (diag.line, diag.col) == (4, 11)


def test_unknown_child_flow_is_positioned_with_a_suggestion(tmp_path: Path) -> None:
    parent = PARENT.replace("flow: enrich_customer", "flow: enrich_custmer")
    report = _validate(tmp_path, child=CHILD, parent=parent)
    diag = only(report, "PGF343")
    assert diag.message == (
        'step "enrich" runs flow "enrich_custmer", which none of the files checked together defines'
    )
    assert diag.file.endswith("parent.yaml")
    assert (diag.line, diag.col) == (7, 11)
    assert diag.hint == 'did you mean "enrich_customer"?'
    assert [f.slug for f in report.flows] == ["enrich_customer"]


def test_a_parent_alone_names_the_missing_file(tmp_path: Path) -> None:
    diag = only(_validate(tmp_path, parent=PARENT), "PGF343")
    assert diag.hint == (
        'validate (and compile) flow "onboard" together with the file of flow "enrich_customer"'
        " (`pgflow run` finds it in the folder of the parent's file or below)"
    )


def test_child_requiring_a_key_the_step_input_never_has(tmp_path: Path) -> None:
    child = CHILD.replace("required: [run]", "required: [customer_id, run]")
    diag = only(_validate(tmp_path, child=child, parent=PARENT), "PGF344")
    assert diag.message == (
        'flow "enrich_customer" requires the input key "customer_id", but the input of step '
        '"enrich" is an object with the keys "run", "prep"'
    )
    assert diag.file.endswith("parent.yaml") and (diag.line, diag.col) == (7, 11)


def test_child_wanting_another_type_or_forbidding_run(tmp_path: Path) -> None:
    typed = CHILD.replace("type: object\n  required: [run]", "type: array")
    diag = only(_validate(tmp_path, child=typed, parent=PARENT), "PGF344")
    assert diag.message.startswith('flow "enrich_customer" wants an input of type array, but')
    closed = CHILD.replace(
        "required: [run]", "additionalProperties: false\n  properties: {prep: {}}"
    )
    diag = only(_validate(tmp_path, child=closed, parent=PARENT), "PGF344")
    assert diag.message.startswith('flow "enrich_customer" allows no input key "run"')


def test_uncertain_inputs_are_not_reported(tmp_path: Path) -> None:
    # a map step's elements are unknown; a dependency's key may be required
    mapped = PARENT.replace("depends_on: [prep]", "map: prep")
    child = CHILD.replace("required: [run]", "required: [customer_id]")
    assert _validate(tmp_path, child=child, parent=mapped).ok
    needs_prep = CHILD.replace("required: [run]", "required: [run, prep]")
    assert _validate(tmp_path, child=needs_prep, parent=PARENT).ok


def test_a_flow_that_runs_itself(tmp_path: Path) -> None:
    report = _validate(tmp_path, loop="slug: loop\nsteps:\n  - slug: again\n    flow: loop\n")
    diag = only(report, "PGF345")
    assert diag.message == 'flow "loop" runs itself through sub-flow steps: loop -> loop'


def test_a_cycle_across_files_is_reported_in_each(tmp_path: Path) -> None:
    a = "slug: a\nsteps:\n  - slug: s\n    flow: b\n"
    b = "slug: b\nsteps:\n  - slug: t\n    handler: m.n:t\n  - slug: u\n    flow: a\n"
    report = _validate(tmp_path, a=a, b=b)
    found = {(Path(d.file).name, d.line, d.message) for d in report.diagnostics}
    assert found == {
        ("a.yaml", 4, 'flow "a" runs itself through sub-flow steps: a -> b -> a'),
        ("b.yaml", 6, 'flow "b" runs itself through sub-flow steps: b -> a -> b'),
    }
    assert report.flows == []


def test_a_map_over_a_single_subflow_step_is_refused(tmp_path: Path) -> None:
    parent = PARENT + "  - slug: each\n    map: enrich\n    handler: crm.steps:each\n"
    diag = only(_validate(tmp_path, child=CHILD, parent=parent), "PGF346")
    assert diag.message == (
        'step "each" maps over step "enrich", whose output is the output of a child run of flow '
        '"enrich_customer": an object, never an array'
    )
    assert diag.doc_path == ("steps", 2, "map")
    # a map sub-flow step's output is an array (of child outputs): mapping over it is fine
    mapped = PARENT.replace("depends_on: [prep]", "map: prep") + (
        "  - slug: each\n    map: enrich\n    handler: crm.steps:each\n"
    )
    assert _validate(tmp_path, child=CHILD, parent=mapped).ok
