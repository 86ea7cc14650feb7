"""Compiled migrations on the real pgflow 0.8.1 core (engineer E's harness, tests/compat/).

A flow that uses only what 0.8.1 has must install there (twice, the second time a no-op);
one that needs our extensions must be refused by 0.8.1 itself, as its header says.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from pgflow_yaml.compiler import compile_flow
from pgflow_yaml.model import FlowSpec
from tests.compat.pgflow081 import HarnessUnavailable, reference_database
from tests.compile.helpers import TIMESTAMP, edge_case_flows, flow, order_pipeline

PLAIN = ("long_slugs", "many_steps", "options_everywhere")


@pytest.fixture(scope="module")
def ref_dsn(pg_server_url: str) -> Iterator[str]:
    try:
        with reference_database(pg_server_url) as url:
            yield url
    except HarnessUnavailable as exc:
        pytest.skip(f"pgflow 0.8.1 reference core unavailable: {exc}")


@pytest.fixture
def ref(ref_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(ref_dsn, autocommit=True) as connection:
        yield connection


def definition_rows(conn: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    """Return the 0.8.1 columns of flows, steps and deps, in a stable order."""
    return {
        "flows": conn.execute(
            "select flow_slug, opt_max_attempts, opt_base_delay, opt_timeout"
            " from pgflow.flows order by flow_slug"
        ).fetchall(),
        "steps": conn.execute(
            "select flow_slug, step_slug, step_index, step_type, deps_count, opt_max_attempts,"
            " opt_base_delay, opt_timeout, opt_start_delay"
            " from pgflow.steps order by flow_slug, step_index"
        ).fetchall(),
        "deps": conn.execute(
            "select flow_slug, dep_slug, step_slug from pgflow.deps order by 1, 3, 2"
        ).fetchall(),
    }


def plain_flows() -> list[FlowSpec]:
    word_stats = flow(
        "word_stats",
        {"slug": "count", "map": "$input"},
        {"slug": "total", "depends_on": ["count"], "when_exhausted": "fail"},
        timeout=30,
    )
    return [word_stats, *(edge_case_flows()[name] for name in PLAIN)]


@pytest.mark.parametrize("spec", plain_flows(), ids=lambda f: f.slug[:20])
def test_plain_flow_installs_on_081_twice(ref: psycopg.Connection[Any], spec: FlowSpec) -> None:
    migration = compile_flow(spec, timestamp=TIMESTAMP)
    assert migration.extensions == ()
    # the blocks that reset a concurrency limit and priorities or step limits stored earlier
    # are there, and skipped by 0.8.1 (its create_flow and add_step have no such arguments)
    assert "do $pgflow_concurrency$" in migration.sql
    assert "do $pgflow_flow_control$" in migration.sql
    ref.execute(migration.sql)
    rows = definition_rows(ref)
    ref.execute(migration.sql)
    assert definition_rows(ref) == rows
    steps = [r for r in rows["steps"] if r[0] == spec.slug]
    assert [(r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]) for r in steps] == [
        (
            s.slug,
            i,
            s.step_type,
            len(s.deps),
            s.max_attempts,
            s.base_delay,
            s.timeout,
            s.start_delay,
        )
        for i, s in enumerate(spec.steps)
    ]
    flows = [r for r in rows["flows"] if r[0] == spec.slug]
    assert flows == [(spec.slug, spec.max_attempts, spec.base_delay, spec.timeout)]
    deps = sorted((r[1], r[2]) for r in rows["deps"] if r[0] == spec.slug)
    assert deps == sorted((d, s.slug) for s in spec.steps for d in s.deps)


def test_flow_with_conditions_is_refused_by_081(ref: psycopg.Connection[Any]) -> None:
    migration = compile_flow(order_pipeline(), timestamp=TIMESTAMP)
    assert migration.extensions == ("conditions (if/if_not, when_unmet) on receipt",)
    with pytest.raises(psycopg.errors.UndefinedFunction):
        ref.execute(migration.sql)
    row = ref.execute("select count(*) from pgflow.flows where flow_slug = 'order_pipeline'")
    assert row.fetchone() == (0,)


def test_a_flow_with_an_input_schema_installs_on_081_which_keeps_none(
    ref: psycopg.Connection[Any], ref_dsn: str
) -> None:
    from pgflow_yaml.client import Client

    spec = flow("with_schema", {"slug": "a"}, input_schema={"type": "object", "required": ["x"]})
    migration = compile_flow(spec, timestamp=TIMESTAMP)
    assert migration.extensions == ()
    assert "installs on pgflow 0.8.1 too" in migration.sql
    ref.execute(migration.sql)
    ref.execute(migration.sql)
    assert [r for r in definition_rows(ref)["flows"] if r[0] == "with_schema"] == [
        ("with_schema", 3, 1, 60)
    ]
    with Client(ref_dsn) as client:  # nothing stored to check against: the start goes through
        assert client.input_schema("with_schema") is None
        run_id = client.start("with_schema", {})
        assert client.start_many("with_schema", [{}, {"x": 1}])[0] != run_id
