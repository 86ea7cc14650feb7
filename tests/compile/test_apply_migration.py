"""Compiled migrations applied to a real database: the rows they leave behind."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgflow_yaml import embedded
from pgflow_yaml.compiler import compile_flow, compile_paths
from pgflow_yaml.shape import flow_shape
from tests.compile.helpers import (
    TIMESTAMP,
    apply,
    definition_rows,
    edge_case_flows,
    flow,
    many_steps,
    order_pipeline,
)

Conn = psycopg.Connection[Any]


def _psql() -> str:
    """Return the psql on PATH, else the one shipped in the embedded server's wheel (a fresh
    machine without PostgreSQL has that one)."""
    found = shutil.which("psql")
    if found is not None:
        return found
    try:
        return str(embedded.psql_path())
    except embedded.EmbeddedServerError as exc:
        pytest.skip(f"no psql on PATH, and none from the embedded server's wheel: {exc}")


def test_creates_flow_steps_and_deps(conn: Conn) -> None:
    apply(conn, order_pipeline())
    rows = definition_rows(conn)
    assert rows["flows"] == [("order_pipeline", 3, 1, 60)]
    assert rows["steps"] == [
        (
            "order_pipeline",
            "check",
            0,
            "single",
            0,
            None,
            None,
            None,
            None,
            None,
            None,
            "skip",
            "fail",
        ),
        ("order_pipeline", "charge", 1, "single", 1, 5, None, 30, None, None, None, "skip", "fail"),
        (
            "order_pipeline",
            "ship_item",
            2,
            "map",
            1,
            None,
            None,
            None,
            None,
            None,
            None,
            "skip",
            "fail",
        ),
        (
            "order_pipeline",
            "receipt",
            3,
            "single",
            2,
            None,
            None,
            None,
            None,
            {"charge": {"paid": True}},
            None,
            "skip",
            "fail",
        ),
    ]
    assert rows["deps"] == [
        ("order_pipeline", "check", "charge"),
        ("order_pipeline", "charge", "receipt"),
        ("order_pipeline", "ship_item", "receipt"),
        ("order_pipeline", "check", "ship_item"),
    ]


def test_applying_twice_is_a_no_op(conn: Conn) -> None:
    apply(conn, order_pipeline())
    before = definition_rows(conn)
    created = conn.execute("select created_at from pgflow.flows").fetchall()
    apply(conn, order_pipeline())
    assert definition_rows(conn) == before
    assert conn.execute("select created_at from pgflow.flows").fetchall() == created
    queues = conn.execute("select queue_name from pgmq.meta").fetchall()
    assert queues == [("order_pipeline",)]


def test_option_only_change_is_applied(conn: Conn) -> None:
    apply(conn, order_pipeline())
    changed = flow(
        "order_pipeline",
        {"slug": "check", "timeout": 15, "start_delay": 2},
        {"slug": "charge", "depends_on": ["check"], "max_attempts": 7},
        {"slug": "ship_item", "map": "check", "base_delay": 4},
        {
            "slug": "receipt",
            "depends_on": ["charge", "ship_item"],
            "if_": {"charge": {"paid": True}},
        },
        max_attempts=2,
        base_delay=3,
        timeout=90,
    )
    apply(conn, changed)
    rows = definition_rows(conn)
    assert rows["flows"] == [("order_pipeline", 2, 3, 90)]
    options = [(r[1], r[5], r[6], r[7], r[8]) for r in rows["steps"]]
    assert options == [
        ("check", None, None, 15, 2),
        ("charge", 7, None, None, None),
        ("ship_item", None, 4, None, None),
        ("receipt", None, None, None, None),
    ]


def test_shape_mismatch_fails_listing_every_difference_and_changes_nothing(conn: Conn) -> None:
    apply(conn, order_pipeline())
    before = definition_rows(conn)
    changed = flow(
        "order_pipeline",
        {"slug": "check", "max_attempts": 9},
        {"slug": "charge", "depends_on": ["check"]},
        {"slug": "ship_item", "depends_on": ["check", "charge"]},
        {"slug": "receipt", "depends_on": ["charge", "ship_item"], "when_exhausted": "skip"},
        {"slug": "audit", "depends_on": ["receipt"]},
        max_attempts=1,
    )
    with pytest.raises(psycopg.Error) as caught:
        apply(conn, changed)
    assert caught.value.sqlstate == "PF001"
    assert caught.value.diag.message_primary == (
        "flow order_pipeline already exists with another shape (database vs compiled):\n"
        "  step count: 4 vs 5\n"
        "  step 2 (ship_item): step_type map vs single\n"
        "  step 2 (ship_item): depends_on [check] vs [charge, check]\n"
        "  step 3 (receipt): when_exhausted fail vs skip\n"
        '  step 3 (receipt): if {"charge": {"paid": true}} vs (none)\n'
        "  step 4 (audit): only in the compiled flow"
    )
    assert definition_rows(conn) == before


def test_psql_single_transaction_stops_at_the_guard(dsn: str, tmp_path: Path) -> None:
    psql = _psql()
    with psycopg.connect(dsn, autocommit=True) as connection:
        apply(connection, order_pipeline())
        before = definition_rows(connection)
    changed = order_pipeline(max_attempts=8)
    changed = replace(changed, steps=changed.steps[:3])
    migration = compile_flow(changed, timestamp=TIMESTAMP)
    path = tmp_path / migration.filename
    path.write_bytes(migration.sql.encode())
    result = subprocess.run(
        [psql, dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 3
    assert "step count: 4 vs 3" in result.stderr
    assert "step 3 (receipt): only in the database" in result.stderr
    with psycopg.connect(dsn, autocommit=True) as connection:
        assert definition_rows(connection) == before


def test_psql_applies_every_edge_case_flow(dsn: str, tmp_path: Path) -> None:
    psql = _psql()
    for spec in edge_case_flows().values():
        migration = compile_flow(spec, timestamp=TIMESTAMP)
        path = tmp_path / migration.filename
        path.write_bytes(migration.sql.encode())
        for _ in range(2):  # the second run is a no-op
            subprocess.run(
                [psql, dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-f", str(path)],
                capture_output=True,
                check=True,
            )
    with psycopg.connect(dsn, autocommit=True) as connection:
        for spec in edge_case_flows().values():
            row = connection.execute("select pgflow._get_flow_shape(%s)", (spec.slug,)).fetchone()
            assert row == (flow_shape(spec),)


def test_many_steps_rows(conn: Conn) -> None:
    spec = many_steps(200)
    apply(conn, spec)
    rows = definition_rows(conn)
    assert [(r[1], r[2], r[3], r[4]) for r in rows["steps"]] == [
        (s.slug, i, s.step_type, len(s.deps)) for i, s in enumerate(spec.steps)
    ]
    assert sorted((r[1], r[2]) for r in rows["deps"]) == sorted(
        (dep, s.slug) for s in spec.steps for dep in s.deps
    )


def test_patterns_with_quotes_and_unicode_are_stored_exactly(conn: Conn) -> None:
    spec = edge_case_flows()["quotes_and_unicode"]
    apply(conn, spec)
    row = conn.execute(
        "select required_input_pattern, forbidden_input_pattern, when_unmet, when_exhausted"
        " from pgflow.steps where step_slug = 'gate'"
    ).fetchone()
    gate = spec.step("gate")
    assert row == (gate.if_, gate.if_not, "skip-cascade", "skip")


def test_every_flow_file_applies_with_its_shape(
    conn: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(repo)
    result = compile_paths(["flows_examples", "tests/compile/flows"], timestamp=TIMESTAMP)
    assert result.exit_code == 0, result.report.render("text")
    assert len(result.migrations) == len(result.report.flows) >= 4
    specs = {spec.slug: spec for spec in result.report.flows}
    for migration in result.migrations:  # in the order compile names them: children first
        spec = specs[migration.flow_slug]
        conn.execute(migration.sql)
        row = conn.execute("select pgflow._get_flow_shape(%s)", (spec.slug,)).fetchone()
        assert row == (flow_shape(spec),)
        deps = conn.execute(
            "select dep_slug, step_slug from pgflow.deps where flow_slug = %s order by 2, 1",
            (spec.slug,),
        ).fetchall()
        assert deps == sorted(
            ((d, s.slug) for s in spec.steps for d in s.deps), key=lambda e: (e[1], e[0])
        )
