"""The start_flows call as the tests of this folder make it."""

from __future__ import annotations

import uuid
from typing import Any

from ..helpers import Conn, dump, rows


def start_flows(
    conn: Conn,
    flow_slug: str,
    inputs: Any,
    run_ids: list[uuid.UUID | None] | None = None,
) -> list[dict[str, Any]]:
    """Call ``start_flows`` with ``inputs`` (JSON) and return the run rows it returns."""
    return rows(
        conn,
        "select * from pgflow.start_flows(%s, %s::jsonb, %s::uuid[])",
        (flow_slug, dump(inputs), run_ids),
    )


def queued_messages(conn: Conn, flow_slug: str) -> list[tuple[str, str, int]]:
    """Return ``(run_id, step_slug, task_index)`` of the flow's queued messages by msg_id."""
    table = conn.execute("select pgmq.format_table_name(%s, 'q')", (flow_slug,)).fetchone()
    assert table is not None
    return [
        (m["message"]["run_id"], m["message"]["step_slug"], m["message"]["task_index"])
        for m in rows(conn, f'select message from pgmq."{table[0]}" order by msg_id')
    ]


def counts(conn: Conn) -> dict[str, int]:
    """Return how many runs, step states and tasks exist."""
    return {
        table: int(rows(conn, f"select count(*) as n from pgflow.{table}")[0]["n"])
        for table in ("runs", "step_states", "step_tasks")
    }
