"""Signal steps compile to add_step(signal_schema => ...), are shape, and keep their schema."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from pgflow_yaml.compiler import compile_flow, extensions_needed
from pgflow_yaml.model import FlowSpec, StepSpec
from pgflow_yaml.shape import flow_shape
from tests.compile.helpers import TIMESTAMP, apply

Conn = psycopg.Connection[Any]
SCHEMA = {"type": "object", "required": ["approved"]}


def _approval(signal: dict[str, Any] | None = None, handler: str | None = None) -> FlowSpec:
    approve = StepSpec("approve", handler, 1, depends_on=("draft",), signal=signal, timeout=600)
    return FlowSpec(
        "approval",
        (StepSpec("draft", "pkg.mod:draft", 0), approve),
        source_path="flows/approval.yaml",
    )


def test_signal_step_compiles_to_a_signal_schema_and_needs_the_core() -> None:
    spec = _approval({"schema": SCHEMA})
    sql = compile_flow(spec, timestamp=TIMESTAMP).sql
    assert (
        "step_type => 'single', signal_schema => "
        """'{"type":"object","required":["approved"]}'::jsonb);"""
    ) in sql
    assert extensions_needed(spec) == ("signal on approve",)
    assert flow_shape(spec)["steps"][1]["signal"] is True
    assert "signal" not in flow_shape(spec)["steps"][0]
    bare = _approval({})
    assert "signal_schema => 'true'::jsonb" in compile_flow(bare, timestamp=TIMESTAMP).sql


def test_applied_signal_step_matches_its_shape_and_keeps_its_schema(conn: Conn) -> None:
    apply(conn, _approval({"schema": SCHEMA}))
    assert conn.execute(
        "select signal_schema from pgflow.steps where step_slug = 'approve'"
    ).fetchone() == (SCHEMA,)
    assert conn.execute(
        "select pgflow.compare_flow_shape('approval', %s)",
        (psycopg.types.json.Jsonb(flow_shape(_approval({"schema": SCHEMA}))),),
    ).fetchone() == ([],)
    # a new schema is changed in place: it is not shape
    apply(conn, _approval({"schema": True}))
    assert conn.execute(
        "select signal_schema from pgflow.steps where step_slug = 'approve'"
    ).fetchone() == (True,)


def test_a_handler_step_becoming_a_signal_step_is_a_shape_change(conn: Conn) -> None:
    apply(conn, _approval(handler="pkg.mod:approve"))
    with pytest.raises(psycopg.Error) as caught:
        apply(conn, _approval({"schema": SCHEMA}))
    assert caught.value.sqlstate == "PF001"
    assert caught.value.diag.message_primary == (
        "flow approval already exists with another shape (database vs compiled):\n"
        "  step 1 (approve): kind handler vs signal"
    )


def test_add_step_refuses_to_change_the_kind_of_a_step(conn: Conn) -> None:
    apply(conn, _approval({"schema": SCHEMA}))
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(
            "select pgflow.add_step('approval', 'approve', array['draft'], step_type => 'single')"
        )
    assert caught.value.diag.message_primary == (
        'Step "approve" of flow "approval" already exists with a different shape: '
        "kind signal vs handler"
    )
