"""compile_flow / compile_paths without a database: structure, arguments and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgflow_yaml import __version__
from pgflow_yaml.compiler import (
    CompileError,
    compile_flow,
    compile_paths,
    extensions_needed,
    migration_filename,
    utc_timestamp,
)
from tests.compile.helpers import TIMESTAMP, flow, order_pipeline

ARGS_081 = {"flow_slug", "step_slug", "deps_slugs", "max_attempts", "base_delay", "timeout",
            "start_delay", "step_type"}  # fmt: skip


def statements(sql: str) -> list[str]:
    return [line for line in sql.splitlines() if line.startswith("select pgflow.")]


def test_header_lines_are_all_comments_even_with_hostile_text() -> None:
    spec = flow(
        "hostile",
        {"slug": "a"},
        description="line one\nselect 1/0;\r\n\x1b[31mred\u2028end",
        source_path="flows/x\nselect 1/0;\n.yaml",
    )
    sql = compile_flow(spec, timestamp=TIMESTAMP).sql
    header = sql.split("\n\n")[0].splitlines()
    assert all(line.startswith("--") for line in header)
    assert header[0] == (
        f"-- compiled by pgflow-yaml {__version__} from flows/x\\x0aselect 1/0;\\x0a.yaml"
        f" (sha256 {'0' * 64}); do not edit"
    )
    assert header[3:6] == ["--   line one", "--   select 1/0;", "--   \\x1b[31mred\\x2028end"]
    assert "\x1b" not in sql


def test_statements_in_order_with_named_arguments() -> None:
    assert statements(compile_flow(order_pipeline(), timestamp=TIMESTAMP).sql) == [
        "select pgflow.create_flow(flow_slug => 'order_pipeline', max_attempts => 3,"
        " base_delay => 1, timeout => 60);",
        "select pgflow.add_step(flow_slug => 'order_pipeline', step_slug => 'check',"
        " max_attempts => null, base_delay => null, timeout => null, start_delay => null,"
        " step_type => 'single');",
        "select pgflow.add_step(flow_slug => 'order_pipeline', step_slug => 'charge',"
        " deps_slugs => array['check']::text[], max_attempts => 5, base_delay => null,"
        " timeout => 30, start_delay => null, step_type => 'single');",
        "select pgflow.add_step(flow_slug => 'order_pipeline', step_slug => 'ship_item',"
        " deps_slugs => array['check']::text[], max_attempts => null, base_delay => null,"
        " timeout => null, start_delay => null, step_type => 'map');",
        "select pgflow.add_step(flow_slug => 'order_pipeline', step_slug => 'receipt',"
        " deps_slugs => array['charge', 'ship_item']::text[], max_attempts => null,"
        " base_delay => null, timeout => null, start_delay => null, step_type => 'single',"
        """ required_input_pattern => '{"charge":{"paid":true}}'::jsonb, when_unmet => 'skip');""",
    ]


def test_plain_flow_uses_only_081_arguments() -> None:
    spec = flow(
        "plain",
        {"slug": "a", "max_attempts": 2, "start_delay": 5, "when_exhausted": "fail"},
        {"slug": "b", "map": "a", "base_delay": 3, "timeout": 9},
        {"slug": "c", "map": "$input"},
    )
    migration = compile_flow(spec, timestamp=TIMESTAMP)
    assert migration.extensions == ()
    assert "-- Uses only what pgflow 0.8.1 has: installs on pgflow 0.8.1 too." in migration.sql
    for statement in statements(migration.sql)[1:]:
        names = {
            part.split(" => ")[0]
            for part in statement[len("select pgflow.add_step(") :].split(", ")
            if " => " in part
        }
        assert names <= ARGS_081, statement


def test_extensions_name_their_steps() -> None:
    spec = flow(
        "ext",
        {"slug": "a"},
        {"slug": "b", "depends_on": ["a"], "if_not": {"a": 1}, "when_unmet": "fail"},
        {"slug": "c", "depends_on": ["a"], "when_exhausted": "skip-cascade"},
        {"slug": "d", "depends_on": ["a"], "if_": {"a": 2}, "when_exhausted": "skip"},
    )
    assert extensions_needed(spec) == (
        "conditions (if/if_not, when_unmet) on b, d",
        "when_exhausted on c, d",
    )
    sql = compile_flow(spec, timestamp=TIMESTAMP).sql
    assert "-- Needs the pgflow-yaml core (not in pgflow 0.8.1):\n--   conditions" in sql
    assert "forbidden_input_pattern => '{\"a\":1}'::jsonb, when_unmet => 'fail');" in sql
    assert (
        "step_slug => 'c', deps_slugs => array['a']::text[], max_attempts => null,"
        " base_delay => null, timeout => null, start_delay => null, step_type => 'single',"
        " when_exhausted => 'skip-cascade');" in sql
    )


def test_guard_comes_first_and_picks_an_unused_dollar_tag() -> None:
    spec = flow("tags", {"slug": "a", "if_": {"$pgflow_guard$": "$pgflow_guard_1$"}})
    sql = compile_flow(spec, timestamp=TIMESTAMP).sql
    body = sql.split("\n\n", 1)[1]
    assert body.splitlines()[2] == "do $pgflow_guard_2$"
    assert body.index("assert_flow_shape") < body.index("create_flow")


@pytest.mark.parametrize(
    "bad", ["2026010112000", "2026-01-01 12:00", "20261232000000", "20260101250000"]
)
def test_bad_timestamps_are_refused(bad: str) -> None:
    with pytest.raises(CompileError, match="timestamp"):
        migration_filename("x", bad)


def test_utc_timestamp_is_a_valid_file_name_part() -> None:
    assert migration_filename("x", utc_timestamp()).endswith("_create_x_flow.sql")


def test_unstorable_pattern_is_a_compile_error_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "nul.yaml"
    path.write_text(
        'slug: nul\nsteps:\n  - slug: a\n    handler: m:a\n    if: {run: "x\\0y"}\n',
        encoding="utf-8",
    )
    result = compile_paths([path], timestamp=TIMESTAMP)
    assert result.exit_code == 1
    assert result.migrations == ()
    (error,) = result.errors
    assert error.startswith(f"{path}: cannot compile flow nul: ")
    assert "NUL character" in error


def test_one_bad_flow_means_no_migrations_at_all(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("slug: good\nsteps:\n  - slug: a\n    handler: m:a\n", encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "slug: bad\nsteps:\n  - slug: a\n    handler: m:a\n    map: b\n", encoding="utf-8"
    )
    result = compile_paths([good, bad], timestamp=TIMESTAMP)
    assert result.exit_code == 1
    assert result.migrations == ()
    assert not result.report.ok
