"""Idempotency keys: a second start with the same key of the same flow returns the first run."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

from ..helpers import Conn, add_flow, claim, complete, one, queue_depth, rows


def _start(conn: Conn, flow: str, key: str | None, value: object = None) -> uuid.UUID:
    return one(
        conn,
        "select run_id from pgflow.start_flow(%s, %s, idempotency_key => %s)",
        (flow, Jsonb(value if value is not None else {}), key),
    )


def test_second_start_with_the_key_returns_the_first_run(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    first = _start(conn, "f", "order-17", {"n": 1})
    again = _start(conn, "f", "order-17", {"n": 2})
    assert again == first
    assert rows(conn, "select input, idempotency_key from pgflow.runs") == [
        {"input": {"n": 1}, "idempotency_key": "order-17"}
    ]
    assert queue_depth(conn, "f") == 1
    assert one(conn, "select count(*) from pgflow.step_states") == 1


def test_keys_are_per_flow_and_null_is_no_key(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    add_flow(conn, "g", [{"slug": "a"}])
    assert _start(conn, "f", "k") != _start(conn, "g", "k")
    assert _start(conn, "f", None) != _start(conn, "f", None)
    assert one(conn, "select count(*) from pgflow.runs") == 4


def test_a_given_run_id_loses_to_the_existing_key(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    first = _start(conn, "f", "k")
    other = uuid.uuid4()
    got = one(
        conn,
        "select run_id from pgflow.start_flow('f', '{}', %s, 'k')",
        (other,),
    )
    assert got == first
    assert one(conn, "select count(*) from pgflow.runs where run_id = %s", (other,)) == 0


def test_start_flow_with_states_returns_the_existing_run(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    first = _start(conn, "f", "k")
    states = one(conn, "select pgflow.start_flow_with_states('f', '{}', null, 'k')")
    assert states["run"]["run_id"] == str(first)
    assert states["run"]["idempotency_key"] == "k"
    assert one(conn, "select count(*) from pgflow.runs") == 1


def test_start_flows_maps_each_key_to_its_run(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    old = _start(conn, "f", "b", {"n": 0})
    got = rows(
        conn,
        "select run_id, input from pgflow.start_flows('f', %s, null, %s)",
        (Jsonb([{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]), ["a", "b", "a", None]),
    )
    assert [r["input"] for r in got] == [{"n": 1}, {"n": 0}, {"n": 1}, {"n": 4}]
    assert got[1]["run_id"] == old
    assert got[0]["run_id"] == got[2]["run_id"]
    assert one(conn, "select count(*) from pgflow.runs") == 3
    assert queue_depth(conn, "f") == 3


def test_start_flows_rejects_a_key_count_that_differs(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    with pytest.raises(psycopg.errors.RaiseException) as err:
        conn.execute("select pgflow.start_flows('f', '[{}, {}]', null, array['a'])")
    assert err.value.diag.message_primary == "start_flows got 2 inputs but 1 idempotency keys"


def test_prune_frees_the_key_with_its_run(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    first = _start(conn, "f", "k")
    (task,) = claim(conn, "f")
    complete(conn, task, 1)
    assert _start(conn, "f", "k") == first
    conn.execute("select pgflow.prune(interval '0')")
    assert _start(conn, "f", "k") != first


def test_racing_starts_make_one_run(dsn: str, conn: Conn) -> None:
    """Eight connections start the same key at once, inside open transactions: one run."""
    add_flow(conn, "f", [{"slug": "a"}])
    barrier = threading.Barrier(8)
    got: list[uuid.UUID] = []
    errors: list[BaseException] = []

    def race(n: int) -> None:
        try:
            with psycopg.connect(dsn) as c:  # one transaction each, committed on exit
                barrier.wait()
                got.append(_start(c, "f", "race", {"n": n}))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(got)) == 1
    assert one(conn, "select count(*) from pgflow.runs") == 1
    assert queue_depth(conn, "f") == 1


def test_a_rolled_back_start_leaves_the_key_free(dsn: str, conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    with psycopg.connect(dsn) as c:
        rolled = _start(c, "f", "k")
        c.rollback()
    assert _start(conn, "f", "k") != rolled
    assert one(conn, "select count(*) from pgflow.runs") == 1
