"""The registry of flow-file keys, and the files and SQL that must agree with it."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from pgflow_yaml import options
from pgflow_yaml.model import FlowSpec, StepSpec
from pgflow_yaml.options import FLOW_OPTIONS, KEY, KEYS, OPTIONS, ROOT, STEP_OPTIONS

SQL = ROOT / "sql"


def test_the_generated_files_are_current() -> None:
    assert options.stale_files() == [], "run python -m pgflow_yaml.options --write"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for name in (options.SCHEMA_FILE, options.DOCS_FILE):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_a_stale_file_is_named_with_its_first_difference(copy: Path) -> None:
    schema = copy / options.SCHEMA_FILE
    schema.write_text(schema.read_text().replace('"minimum": 3', '"minimum": 2'))
    docs = copy / options.DOCS_FILE
    docs.write_text(docs.read_text().replace("| `timeout` | integer >= 3 |", "| `timeout` | x |"))
    assert options.stale_files(copy) == [
        "schemas/flow.schema.json: line 36 is '\"minimum\": 2,', the registry makes "
        "'\"minimum\": 3,'",
        "docs/flow-format.md: line 77 is '| `timeout` | x | 60 | Seconds a task may run. |', "
        "the registry makes '| `timeout` | integer >= 3 | 60 | Seconds a task may run. |'",
    ]
    options.write_files(copy)
    assert options.stale_files(copy) == []
    assert docs.read_text() == (ROOT / options.DOCS_FILE).read_text()


def test_the_check_command_exits_1_naming_the_stale_file(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = copy / options.DOCS_FILE
    docs.write_text(docs.read_text().replace("Seconds a task may run.", "Seconds."))
    assert options.main(["--check"], copy) == 1
    assert capsys.readouterr().err == (
        "docs/flow-format.md: line 77 is '| `timeout` | integer >= 3 | 60 | Seconds. |', the "
        "registry makes '| `timeout` | integer >= 3 | 60 | Seconds a task may run. |' "
        "(run python -m pgflow_yaml.options --write)\n"
    )
    assert options.main(["--bogus"]) == 2


def test_docs_without_the_markers_are_refused() -> None:
    with pytest.raises(ValueError, match="lacks the markers of the generated flow keys table"):
        options.docs_text("# no tables here\n")


def _parameters(path: Path, function: str) -> list[str]:
    text = path.read_text(encoding="utf-8")
    match = re.search(rf"function pgflow\.{function}\((.*?)\)\s*returns", text, re.S)
    assert match, path
    return [line.split()[0] for line in match.group(1).split(",") if line.strip()]


def test_every_sql_argument_is_a_parameter_of_create_flow_or_add_step() -> None:
    create_flow = _parameters(SQL / "0100_function_create_flow.sql", "create_flow")
    add_step = _parameters(SQL / "0110_function_add_step.sql", "add_step")
    assert [k.sql_argument for k in FLOW_OPTIONS if k.sql_argument not in create_flow] == []
    step_arguments = [k.sql_argument for k in KEYS if k.step is not None and k.sql_argument]
    assert [a for a in step_arguments if a not in add_step] == []
    assert all(k.sql_argument for k in OPTIONS)
    # an option stored in several columns passes each as its own add_step argument
    fields = [f for k in STEP_OPTIONS for f in options.stored_fields(k, "step")]
    assert [f for f in fields if f not in add_step] == []


def test_every_option_has_its_opt_column() -> None:
    """pgflow._shape_options reads options back from the opt_<name> columns."""
    flows = (SQL / "0050_table_flows.sql").read_text(encoding="utf-8")
    steps = (SQL / "0051_table_steps.sql").read_text(encoding="utf-8")
    column = {"integer": "int", "json_schema": "jsonb"}
    plain = [k for k in OPTIONS if k.name not in options.STORED_FIELDS]
    missing = [k.name for k in plain if f"  opt_{k.name} {column[k.kind]}" not in flows + steps]
    assert missing == []
    fields = [f for name in options.STORED_FIELDS for f in options.STORED_FIELDS[name]]
    assert [f for f in fields if f"  opt_{f} " not in steps] == []


def test_every_option_is_an_integer_with_bounds_a_hint_and_a_default() -> None:
    for key in OPTIONS:
        if key.name == "concurrency":  # a step's tasks (two columns) or a flow's runs (jsonb)
            assert (key.step is not None, key.flow is not None, key.default, key.minimum) == (
                True,
                True,
                None,
                1,
            )
            assert key.hint
            continue
        if key.name in options.STORED_FIELDS:  # rate_limit: a mapping, graph-checked
            assert (key.step is not None, key.flow, bool(key.hint)) == (True, None, True)
            continue
        if key.kind == "json_schema":  # input_schema: stored and changed in place, no default
            assert (key.name, key.flow is not None, key.step, key.default) == (
                "input_schema",
                True,
                None,
                None,
            )
            continue
        assert (key.kind, key.minimum is not None, bool(key.hint)) == ("integer", True, True)
        assert key.default is not None, key.name
        assert not (key.inherits and key.flow is None), key.name


def test_shape_keys_are_camel_case() -> None:
    names = ("max_attempts", "base_delay", "timeout", "start_delay")
    assert [KEY[name].shape_key for name in names] == [
        "maxAttempts",
        "baseDelay",
        "timeout",
        "startDelay",
    ]


def test_the_model_takes_options_by_keyword_or_mapping() -> None:
    by_keyword = StepSpec("a", "m:f", 0, timeout=30, start_delay=None)
    by_mapping = StepSpec("a", "m:f", 0, options={"timeout": 30})
    assert by_keyword == by_mapping
    assert (by_keyword.options, by_keyword.timeout, by_keyword.max_attempts) == (
        {"timeout": 30},
        30,
        None,
    )
    flow = FlowSpec("f", (by_keyword,), max_attempts=7)
    assert flow.options == {"max_attempts": 7, "base_delay": 1, "timeout": 60, "priority": 0}
    assert (flow.option("timeout", by_keyword), flow.option("start_delay", by_keyword)) == (
        30,
        None,
    )
    assert flow.effective(by_keyword) == (7, 1, 30)


def test_the_model_refuses_an_unknown_option() -> None:
    with pytest.raises(
        TypeError, match="StepSpec\\(\\) got an unexpected keyword argument 'tmeout'"
    ):
        StepSpec("a", "m:f", 0, tmeout=3)
    with pytest.raises(
        TypeError, match="FlowSpec\\(\\) got an unexpected keyword argument 'start_delay'"
    ):
        FlowSpec("f", (), start_delay=3)


def test_an_option_that_needs_the_core_is_named_in_the_extensions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pgflow_yaml import compiler

    flow = FlowSpec("f", (StepSpec("a", "m:f", 0, start_delay=2), StepSpec("b", "m:g", 1)))
    assert compiler.extensions_needed(flow) == ()
    core_only = tuple(replace(key, needs_core=True) for key in STEP_OPTIONS + FLOW_OPTIONS)
    monkeypatch.setattr(compiler, "STEP_OPTIONS", core_only[: len(STEP_OPTIONS)])
    monkeypatch.setattr(compiler, "FLOW_OPTIONS", core_only[len(STEP_OPTIONS) :])
    assert compiler.extensions_needed(replace(flow, max_attempts=5)) == (
        "max_attempts on the flow",
        "start_delay on a",
    )
