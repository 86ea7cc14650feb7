"""The worker role (sql/roles, `pgflow install --roles`) can check a flow's shape at start-up."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pgflow_yaml import core
from pgflow_yaml.shape import flow_shape
from tests.compile.helpers import apply, order_pipeline


def test_pgflow_worker_can_compare_flow_shape(conn: psycopg.Connection[Any]) -> None:
    core.install(conn, roles=True)
    apply(conn, order_pipeline())
    changed = flow_shape(order_pipeline())
    changed["steps"][1]["stepType"] = "map"
    with conn.transaction():
        conn.execute("set local role pgflow_worker")
        same = conn.execute(
            "select pgflow.compare_flow_shape('order_pipeline', %s)",
            (Jsonb(flow_shape(order_pipeline())),),
        ).fetchone()
        different = conn.execute(
            "select pgflow.compare_flow_shape('order_pipeline', %s)", (Jsonb(changed),)
        ).fetchone()
    assert same == ([],)
    assert different == (["step 1 (charge): step_type single vs map"],)
