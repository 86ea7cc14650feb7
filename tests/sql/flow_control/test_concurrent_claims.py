"""Concurrent claims under flow control take different tasks instead of colliding."""

from __future__ import annotations

import hashlib
import uuid

import psycopg
from psycopg.types.json import Jsonb

from ..helpers import Conn, add_flow, claim, one

OTHER_WORKER = uuid.UUID("00000000-0000-0000-0000-0000000000b2")


def _start_keys(conn: Conn, keys: list[str]) -> None:
    conn.execute("select pgflow.start_flows('f', %s)", (Jsonb([{"c": k} for k in keys]),))


def test_a_claim_passes_over_the_groups_another_claim_is_filling(conn: Conn, dsn: str) -> None:
    add_flow(conn, "f", [{"slug": "a", "concurrency_limit": 2, "concurrency_key": "run.c"}])
    _start_keys(conn, ["k1", "k2", "k3", "k4", "k5", "k6"])
    with psycopg.connect(dsn) as first, first.transaction():
        held = claim(first, "f", qty=3)
        # the other claim runs while the first one's transaction is open (its locks held)
        other = claim(conn, "f", qty=3, worker_id=OTHER_WORKER)
    assert len(held) == 3 and len(other) == 3
    held_keys = {t.input["run"]["c"] for t in held}
    other_keys = {t.input["run"]["c"] for t in other}
    assert held_keys.isdisjoint(other_keys)
    assert one(conn, "select count(*) from pgflow.step_tasks where status = 'started'") == 6


def test_a_claim_passes_over_the_tasks_another_claim_is_starting(conn: Conn, dsn: str) -> None:
    # a step with no limit of its own in a flow under flow control (the flow's priority)
    add_flow(conn, "f", [{"slug": "a"}], priority=1)
    assert one(conn, "select flow_control from pgflow.flows") is True
    _start_keys(conn, ["x"] * 6)
    with psycopg.connect(dsn) as first, first.transaction():
        held = claim(first, "f", qty=3)
        other = claim(conn, "f", qty=3, worker_id=OTHER_WORKER)
    assert len(held) == 3 and len(other) == 3
    assert {t.run_id for t in held}.isdisjoint({t.run_id for t in other})


def test_a_limit_holds_across_concurrent_claims(conn: Conn, dsn: str) -> None:
    add_flow(conn, "f", [{"slug": "a", "concurrency_limit": 2, "concurrency_key": "run.c"}])
    _start_keys(conn, ["k1"] * 5)
    with psycopg.connect(dsn) as first, first.transaction():
        held = claim(first, "f", qty=5)
        other = claim(conn, "f", qty=5, worker_id=OTHER_WORKER)
    assert len(held) == 2 and other == []
    assert claim(conn, "f", qty=5, worker_id=OTHER_WORKER) == []
    assert one(conn, "select count(*) from pgflow.step_tasks where status = 'started'") == 2


def test_a_sessions_own_statement_under_the_picks_name_is_not_run(conn: Conn) -> None:
    # the pick prepares its statement once per session and queue under a fixed name: a statement
    # the session prepared under that name (any text but the pick's) is replaced, never executed
    add_flow(conn, "f", [{"slug": "a", "concurrency_limit": 1, "concurrency_key": "run.c"}])
    _start_keys(conn, ["k1", "k1", "k2"])
    name = "pgflow_fc_pick_" + hashlib.md5(b"q_f").hexdigest()
    conn.execute(f"prepare {name}(text, int) as select array[1, 2, 3]::bigint[] where $1 <> ''")
    tasks = claim(conn, "f", qty=3)
    assert sorted(t.input["run"]["c"] for t in tasks) == ["k1", "k2"]
    statement = one(conn, "select statement from pg_prepared_statements where name = %s", (name,))
    assert "array[1, 2, 3]" not in statement
