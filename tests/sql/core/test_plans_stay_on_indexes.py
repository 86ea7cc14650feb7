"""Run-changing functions price sequential scans out, so cached plans keep using indexes.

plpgsql caches one plan per statement and session; a plan made while a table was small would
keep a sequential scan as the table grows (a long-lived worker then slows down with every run).

They also turn JIT compilation off: a generic plan's estimates grow with the tables (a claim's
``limit $2`` is priced at a share of the whole queue), and past ``jit_above_cost`` every
execution of a 4 ms claim spent ~150 ms compiling expressions (a backlog of 200,000 tasks).
"""

import pytest

from ..helpers import Conn, one

ENTRY_POINTS = [
    "start_flow(text, jsonb, uuid, text, int)",
    "start_flows(text, jsonb, uuid[], text[], int)",
    "start_tasks(text, bigint[], uuid)",
    "claim_tasks(text[], uuid, int, int)",
    "complete_task(uuid, text, int, jsonb, int, bigint)",
    "complete_tasks(jsonb)",
    "fail_task(uuid, text, int, text, int, text, boolean, text, bigint)",
    "fail_tasks(jsonb)",
    "release_tasks(uuid)",
    "requeue_stalled_tasks()",
    "cancel_run(uuid)",
    "retry_run(uuid)",
    "prune(interval)",
    "prune_batch(timestamptz, int, timestamptz, uuid)",
]


@pytest.mark.parametrize("signature", ENTRY_POINTS)
def test_entry_point_disables_seqscan(conn: Conn, signature: str) -> None:
    config = one(
        conn, "select proconfig from pg_proc where oid = %s::regprocedure", (f"pgflow.{signature}",)
    )
    assert "enable_seqscan=off" in config
    assert "jit=off" in config
