"""Flow control in the definition layer: the concurrency key, the worst case, the deadline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pgflow_yaml import flow_control
from pgflow_yaml.cli import app
from pgflow_yaml.compiler import compile_flow
from pgflow_yaml.flow_control import explain_flow, format_seconds, retry_delay
from pgflow_yaml.model import FlowSpec, StepSpec
from pgflow_yaml.options import PG_INT_MAX
from pgflow_yaml.validate import validate_paths, validate_source

REPO = Path(__file__).resolve().parent.parent.parent
EXAMPLES = REPO / "flows_examples"
runner = CliRunner()


def one_flow(text: str) -> FlowSpec:
    report = validate_source(text, "f.yaml")
    assert report.ok, report.render()
    (flow,) = report.flows
    return flow


def codes(text: str, name: str = "f.yaml") -> list[tuple[str, int | None, int | None, str]]:
    report = validate_source(text, name)
    return [(d.code, d.line, d.col, d.message) for d in report.diagnostics]


# --------------------------------------------------------------------------- concurrency


def test_concurrency_is_an_integer_or_a_limit_with_a_key() -> None:
    steps = "steps:\n  - slug: a\n    handler: m:f\n"
    assert one_flow(f"slug: f\nconcurrency: 3\n{steps}").concurrency == {"limit": 3}
    keyed = one_flow(f"slug: f\nconcurrency: {{limit: 1, key: customer.id}}\n{steps}")
    assert keyed.concurrency == {"limit": 1, "key": "customer.id"}
    assert one_flow(f"slug: f\n{steps}").concurrency is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", ("PGF330", 2, 14, "the concurrency limit must be between 1 and 2147483647, got 0")),
        (
            "true",
            (
                "PGF330",
                2,
                14,
                "concurrency must be an integer or a mapping with limit and key, not a boolean "
                "(true)",
            ),
        ),
        ("{key: a}", ("PGF330", 2, 14, "the flow's concurrency has no limit")),
        (
            "{limit: '2'}",
            ("PGF330", 2, 22, 'the concurrency limit must be an integer, not a string ("2")'),
        ),
        ("{limit: 1, by: a}", ("PGF330", 2, 25, 'unknown key "by" in the flow\'s concurrency')),
        (
            "{limit: 1, key: 'a.'}",
            ("PGF331", 2, 30, 'concurrency key "a." is not a dotted path of names'),
        ),
        (
            "{limit: 1, key: 5}",
            ("PGF331", 2, 30, "concurrency key must be a string, not a number (5)"),
        ),
    ],
)
def test_a_bad_concurrency_is_positioned(value: str, expected: tuple[str, int, int, str]) -> None:
    text = f"slug: f\nconcurrency: {value}\nsteps:\n  - slug: a\n    handler: m:f\n"
    assert codes(text) == [expected]


def test_toml_concurrency_is_checked_the_same() -> None:
    text = 'slug = "f"\nconcurrency = {limit = 0}\n[[steps]]\nslug = "a"\nhandler = "m:f"\n'
    assert [c[0] for c in codes(text, "f.toml")] == ["PGF330"]


def test_the_compiled_migration_sets_or_removes_the_limit() -> None:
    step = StepSpec("a", "m:f", 0)
    keyed = compile_flow(
        FlowSpec("f", (step,), concurrency={"limit": 2, "key": "c"}), timestamp="20260101000000"
    ).sql
    assert "concurrency_limit => 2, concurrency_key => 'c');" in keyed
    assert "concurrency on the flow" in keyed and "pgflow_concurrency" not in keyed
    plain = compile_flow(FlowSpec("f", (step,), concurrency=4), timestamp="20260101000000").sql
    assert "concurrency_limit => 4, concurrency_key => null);" in plain
    none = compile_flow(FlowSpec("f", (step,)), timestamp="20260101000000").sql
    assert "perform pgflow.create_flow(flow_slug => 'f', concurrency_limit => null);" in none
    assert "'concurrency_limit' = any (p.proargnames)" in none


# --------------------------------------------------------------------------- the worst case


def test_retry_delay_matches_calculate_retry_delay() -> None:
    assert [retry_delay(5, n) for n in (1, 2, 3)] == [10, 20, 40]
    assert retry_delay(1, 40) == PG_INT_MAX and retry_delay(3, 100) == PG_INT_MAX


@pytest.mark.parametrize(
    ("name", "worst", "path"),
    [
        ("hello", 372, ["greet", "shout"]),
        ("order_pipeline", 558, ["check", "ship_item", "receipt"]),
        ("approval", 186 + 86400 + 186, ["draft", "approve", "notify_rejection"]),
    ],
)
def test_worst_case_of_the_examples(name: str, worst: int, path: list[str]) -> None:
    (flow,) = validate_paths([EXAMPLES / f"{name}.yaml"]).flows
    case = explain_flow(flow)
    assert (case.worst_case, list(case.critical_path)) == (worst, path)
    assert [s.slug for s in case.steps if s.critical] == path


def test_each_step_counts_attempts_backoff_and_start_delay() -> None:
    (flow,) = validate_paths([EXAMPLES / "order_pipeline.yaml"]).flows
    steps = {s.slug: s for s in explain_flow(flow).steps}
    # charge: 5 attempts of 30 s, backoff 2 + 4 + 8 + 16 (base_delay 1), after check (186 s)
    charge = steps["charge"]
    assert (charge.attempts, charge.timeout, charge.retry_delays) == (5, 30, (2, 4, 8, 16))
    assert (charge.worst_case, charge.start, charge.finish) == (180, 186, 366)
    assert (steps["ship_item"].kind, steps["ship_item"].worst_case) == ("map", 186)
    delayed = one_flow(
        "slug: f\nbase_delay: 3\nmax_attempts: 2\ntimeout: 10\nsteps:\n"
        "  - slug: a\n    handler: m:f\n    start_delay: 7\n"
    )
    (a,) = explain_flow(delayed).steps
    assert (a.retry_delays, a.per_task, a.worst_case) == ((6,), 2 * 10 + 6 + 7, 33)


def test_a_signal_step_counts_its_timeout_once() -> None:
    flow = one_flow(
        "slug: f\nmax_attempts: 5\nsteps:\n  - slug: wait\n    signal: {}\n    timeout: 100\n"
        "    start_delay: 9\n"
    )
    (wait,) = explain_flow(flow).steps
    assert (wait.kind, wait.attempts, wait.retry_delays, wait.worst_case) == ("signal", 1, (), 100)


def test_parallel_branches_take_the_longest(monkeypatch: pytest.MonkeyPatch) -> None:
    flow = one_flow(
        "slug: f\nmax_attempts: 1\nsteps:\n"
        "  - slug: a\n    handler: m:f\n    timeout: 10\n"
        "  - slug: slow\n    handler: m:f\n    timeout: 50\n    depends_on: [a]\n"
        "  - slug: fast\n    handler: m:f\n    timeout: 5\n    depends_on: [a]\n"
        "  - slug: join\n    handler: m:f\n    timeout: 3\n    depends_on: [fast, slow]\n"
    )
    case = explain_flow(flow)
    assert (case.worst_case, case.critical_path) == (63, ("a", "slow", "join"))


MAP_WITH_A_LIMIT = """\
slug: f
deadline: 100000
steps:
  - slug: a
    handler: m:f
  - slug: m
    handler: m:f
    map: a
    concurrency: {limit: 2, key: region}
  - slug: z
    handler: m:f
    depends_on: [m]
"""


def test_a_step_limit_on_a_map_makes_it_unbounded() -> None:
    """``concurrency`` on a map step (a step key since issue 12) serializes its elements."""
    flow = one_flow(MAP_WITH_A_LIMIT.replace("deadline: 100000\n", ""))
    assert flow_control.step_limit(flow.steps[1]) == {"limit": 2, "key": "region"}
    assert flow_control.step_limit(flow.steps[0]) is None
    case = explain_flow(flow)
    m = case.steps[1]
    assert (m.worst_case, m.per_task, m.serialized_by) == (None, 186, {"limit": 2, "key": "region"})
    assert (case.worst_case, case.serialized_maps, case.critical_path) == (
        None,
        ("m",),
        ("a", "m", "z"),
    )
    assert case.steps[2].start is None


def test_a_step_limit_on_a_single_step_or_the_flow_serializes_nothing() -> None:
    flow = one_flow(
        "slug: f\nconcurrency: 1\nmax_attempts: 1\nsteps:\n"
        "  - slug: a\n    handler: m:f\n    timeout: 10\n    concurrency: 1\n"
        "  - slug: m\n    handler: m:f\n    map: a\n    timeout: 5\n"
    )
    assert [flow_control.step_limit(s) for s in flow.steps] == [{"limit": 1}, None]
    case = explain_flow(flow)
    assert (case.worst_case, case.serialized_maps) == (15, ())


def test_pgflow_explain_and_validate_of_a_limited_map(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(MAP_WITH_A_LIMIT.replace("deadline: 100000\n", ""))
    table = runner.invoke(app, ["explain", str(path)], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "unbounded (3m 6s × ⌈n/2⌉ per region)" in table.stdout
    assert "serialized by a step limit: m" in table.stdout
    assert "worst case: unbounded" in table.stdout
    data = json.loads(runner.invoke(app, ["explain", str(path), "--json"]).stdout)
    (flow,) = data["flows"]
    assert (flow["worst_case"], flow["serialized_maps"]) == (None, ["m"])
    assert flow["steps"][1]["serialized_by"] == {"limit": 2, "key": "region"}
    assert [(c, line, col) for c, line, col, _ in codes(MAP_WITH_A_LIMIT)] == [("PGF333", 2, 11)]


SUBFLOWS = """\
slug: parent
deadline: 1000
max_attempts: 2
base_delay: 5
timeout: 7
steps:
  - slug: a
    handler: m:f
  - slug: timed
    map: a
    flow: child
    timeout: 100
  - slug: untimed
    flow: child
    depends_on: [a]
"""
CHILD = "slug: child\nsteps:\n  - slug: w\n    handler: m:f\n"


def test_a_subflow_step_is_bounded_by_its_own_timeout_only(tmp_path: Path) -> None:
    (tmp_path / "parent.yaml").write_text(SUBFLOWS)
    (tmp_path / "child.yaml").write_text(CHILD)
    report = validate_paths([tmp_path])
    (diag,) = report.diagnostics
    assert (diag.code, diag.line, diag.col) == ("PGF333", 2, 11)
    assert diag.message == (
        "deadline 1000 s cannot be guaranteed: the worst case is unbounded, as sub-flow step"
        ' "untimed" has no timeout of its own'
    )
    (tmp_path / "parent.yaml").write_text(SUBFLOWS.replace("deadline: 1000\n", ""))
    flow = next(f for f in validate_paths([tmp_path]).flows if f.slug == "parent")
    steps = {s.slug: s for s in explain_flow(flow).steps}
    # each child run gets the step's 100 s (not the flow's 7 s), backoff 10 s between
    timed = steps["timed"]
    assert (timed.kind, timed.timeout, timed.retry_delays) == ("flow", 100, (10,))
    assert (timed.per_task, timed.worst_case, timed.start) == (210, 210, 24)
    untimed = steps["untimed"]
    assert (untimed.kind, untimed.timeout, untimed.per_task, untimed.worst_case) == (
        "flow",
        None,
        None,
        None,
    )
    case = explain_flow(flow)
    assert (case.worst_case, case.unbounded_subflows) == (None, ("untimed",))
    table = runner.invoke(app, ["explain", str(tmp_path)], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "unbounded (no timeout of its own)" in table.stdout
    assert "child runs with no time limit: untimed" in table.stdout
    (tmp_path / "parent.yaml").write_text(
        SUBFLOWS.replace(
            "    flow: child\n    depends_on", "    flow: child\n    timeout: 50\n    depends_on"
        )
    )
    assert validate_paths([tmp_path]).ok  # 24 + 210 at worst


def _doc(text: str) -> flow_control.SourceDoc:
    from pgflow_yaml.loader import parse_bytes

    doc, _ = parse_bytes(text.encode(), "f.yaml", "yaml")
    assert doc is not None
    return doc


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (0, 59, 60, 3725, 90061, None)] == [
        "0s",
        "59s",
        "1m",
        "1h 2m 5s",
        "1d 1h 1m 1s",
        "unbounded",
    ]


# --------------------------------------------------------------------------- deadline


DEADLINE_FLOW = """\
slug: report
timeout: 60
deadline: {deadline}
steps:
  - slug: fetch
    handler: report.steps:fetch
  - slug: render
    handler: report.steps:render
    depends_on: [fetch]
    max_attempts: 1
"""


def test_a_worst_case_over_the_deadline_is_an_error_at_deadline() -> None:
    report = validate_source(DEADLINE_FLOW.format(deadline=245), "report.yaml")
    (diag,) = report.diagnostics
    assert (diag.code, diag.line, diag.col, diag.doc_path) == ("PGF332", 3, 11, ("deadline",))
    assert diag.message == "the worst case of a run is 246 s (4m 6s), over the deadline of 245 s"
    assert "critical path: fetch → render" in (diag.hint or "")
    assert report.flows == [] and report.exit_code == 1
    assert validate_source(DEADLINE_FLOW.format(deadline=246), "report.yaml").ok


def test_deadline_is_a_positive_integer() -> None:
    assert [c[0] for c in codes(DEADLINE_FLOW.format(deadline=0))] == ["PGF310"]
    assert [c[0] for c in codes(DEADLINE_FLOW.format(deadline="'1h'"))] == ["PGF203"]


def test_explain_cli_table_and_json(tmp_path: Path) -> None:
    path = tmp_path / "report.yaml"
    path.write_text(DEADLINE_FLOW.format(deadline=200))
    validate = runner.invoke(app, ["validate", str(path)])
    assert validate.exit_code == 1 and "error[PGF332]" in validate.stderr
    table = runner.invoke(app, ["explain", str(path)])
    assert table.exit_code == 0, table.stderr
    assert "worst case: 4m 6s (246 s)" in table.stdout
    assert "critical path (*): fetch → render" in table.stdout
    assert "deadline: 200 s: EXCEEDED" in table.stdout
    result = runner.invoke(app, ["explain", "--json", str(path)])
    assert result.exit_code == 0
    (flow,) = json.loads(result.stdout)["flows"]
    assert set(flow) == {
        "flow_slug",
        "file",
        "worst_case",
        "deadline",
        "within_deadline",
        "critical_path",
        "serialized_maps",
        "unbounded_subflows",
        "concurrency",
        "steps",
    }
    assert (flow["worst_case"], flow["deadline"], flow["within_deadline"]) == (246, 200, False)
    assert flow["steps"][0] == {
        "slug": "fetch",
        "kind": "task",
        "attempts": 3,
        "timeout": 60,
        "start_delay": 0,
        "retry_delays": [2, 4],
        "per_task": 186,
        "worst_case": 186,
        "start": 0,
        "finish": 186,
        "depends_on": [],
        "serialized_by": None,
        "critical": True,
    }


def test_explain_of_an_invalid_file_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("slug: f\nsteps: []\n")
    result = runner.invoke(app, ["explain", str(path)])
    assert result.exit_code == 1 and "error[PGF205]" in result.stderr
