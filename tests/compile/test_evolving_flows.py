"""docs/evolving-flows.md, step by step: a versioned slug beside the old one, then retiring it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.compile.helpers import apply, flow, order_pipeline

Conn = psycopg.Connection[Any]
DOC = Path(__file__).resolve().parents[2] / "docs" / "evolving-flows.md"


def retire_sql(slug: str) -> str:
    """Return the documented retire recipe, for ``slug`` instead of the example's."""
    blocks = re.findall(r"```sql\n(-- retire flow.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, "docs/evolving-flows.md must hold one '-- retire flow' block"
    return blocks[0].replace("'order_pipeline'", f"'{slug}'")


def changed_pipeline(slug: str) -> Any:
    return flow(
        slug,
        {"slug": "check"},
        {"slug": "charge", "depends_on": ["check"]},
        {"slug": "ship_item", "depends_on": ["charge", "check"]},
    )


def test_versioned_slug_lives_beside_the_old_flow(conn: Conn) -> None:
    apply(conn, order_pipeline())
    conn.execute("select pgflow.start_flow('order_pipeline', %s)", (Jsonb({"order": 1}),))
    apply(conn, changed_pipeline("order_pipeline_v2"))
    slugs = conn.execute("select flow_slug from pgflow.flows order by 1").fetchall()
    assert slugs == [("order_pipeline",), ("order_pipeline_v2",)]
    runs = conn.execute("select flow_slug, status from pgflow.runs").fetchall()
    assert runs == [("order_pipeline", "started")]


def test_documented_retire_recipe_removes_every_trace(conn: Conn) -> None:
    apply(conn, order_pipeline())
    apply(conn, changed_pipeline("keep_me"))
    row = conn.execute(
        "select run_id from pgflow.start_flow('order_pipeline', %s)", (Jsonb({"order": 1}),)
    ).fetchone()
    assert row is not None
    conn.execute("select pgflow.start_flow('keep_me', %s)", (Jsonb({"order": 2}),))
    # "once it has no unfinished run"
    with pytest.raises(psycopg.errors.ObjectInUse), conn.transaction():
        conn.execute(retire_sql("order_pipeline"))
    conn.execute("select pgflow.cancel_run(%s)", (row[0],))
    with conn.transaction():
        conn.execute(retire_sql("order_pipeline"))
    for table in ("flows", "steps", "deps", "runs", "step_states", "step_tasks"):
        left = conn.execute(
            f"select count(*) from pgflow.{table} where flow_slug = 'order_pipeline'"
        ).fetchone()
        kept = conn.execute(f"select count(*) from pgflow.{table} where flow_slug = 'keep_me'")
        assert left == (0,), table
        assert kept.fetchone() != (0,), table
    queues = conn.execute("select queue_name from pgmq.meta order by 1").fetchall()
    assert queues == [("keep_me",)]
    apply(conn, changed_pipeline("order_pipeline"))
    steps = conn.execute(
        "select step_slug, step_type from pgflow.steps where flow_slug = 'order_pipeline'"
        " order by step_index"
    ).fetchall()
    assert steps == [("check", "single"), ("charge", "single"), ("ship_item", "single")]
