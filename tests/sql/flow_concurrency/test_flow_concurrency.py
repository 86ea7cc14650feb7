"""Flow concurrency: at most N runs of a flow (per key) in progress; the others wait 'queued'."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg
import pytest

from ..helpers import (
    Conn,
    Task,
    add_flow,
    claim,
    complete,
    dump,
    fail,
    one,
    rows,
    run_row,
    start,
)


def statuses(conn: Conn, run_ids: list[uuid.UUID]) -> list[str]:
    got = {r["run_id"]: r["status"] for r in rows(conn, "select run_id, status from pgflow.runs")}
    return [got[run_id] for run_id in run_ids]


def limited(conn: Conn, limit: int = 2, key: str | None = None, steps: Any = None) -> None:
    add_flow(conn, "f", steps or [{"slug": "a"}], concurrency_limit=limit, concurrency_key=key)


_CLAIMED: dict[tuple[int, uuid.UUID], list[Task]] = {}


def finish(conn: Conn, run_id: uuid.UUID) -> None:
    """Claim and complete every task of ``run_id`` until it ends (claims of other runs are kept
    for their own ``finish``)."""
    while run_row(conn, run_id)["status"] == "started":
        for task in claim(conn, "f", qty=100):
            _CLAIMED.setdefault((id(conn), task.run_id), []).append(task)
        tasks = _CLAIMED.pop((id(conn), run_id), [])
        assert tasks, "the run has no task to claim"
        for task in tasks:
            complete(conn, task, 1)


def test_runs_beyond_the_limit_are_queued_and_start_in_order(conn: Conn) -> None:
    limited(conn, 2)
    runs = [start(conn, "f", {"n": n}) for n in range(5)]
    assert statuses(conn, runs) == ["started", "started", "queued", "queued", "queued"]
    # a queued run has its step states, and no task
    assert one(conn, "select count(*) from pgflow.step_states where run_id = %s", (runs[2],)) == 1
    assert one(conn, "select count(*) from pgflow.step_tasks where run_id = %s", (runs[2],)) == 0
    finish(conn, runs[1])
    assert statuses(conn, runs) == ["started", "completed", "started", "queued", "queued"]
    finish(conn, runs[0])
    assert statuses(conn, runs)[3:] == ["started", "queued"]
    finish(conn, runs[2])
    finish(conn, runs[3])
    finish(conn, runs[4])
    assert statuses(conn, runs) == ["completed"] * 5


def test_start_flows_queues_in_input_order(conn: Conn) -> None:
    limited(conn, 1)
    got = rows(
        conn,
        "select run_id, status from pgflow.start_flows('f', %s::jsonb)",
        (dump([{"n": 0}, {"n": 1}, {"n": 2}]),),
    )
    assert [r["status"] for r in got] == ["started", "queued", "queued"]
    position = rows(conn, "select * from pgflow._queued_run_position(%s)", (got[2]["run_id"],))
    assert position == [{"position": 2, "holding_runs": [got[0]["run_id"]]}]
    assert rows(conn, "select * from pgflow._queued_run_position(%s)", (got[0]["run_id"],)) == []


def start_with(conn: Conn, priority: int | None, input_: Any = None) -> uuid.UUID:
    """Start a run of flow ``f`` with a per-run priority (None: none)."""
    return one(
        conn,
        "select run_id from pgflow.start_flow('f', %s::jsonb, priority => %s)",
        (dump(input_ or {}), priority),
    )


def test_queued_runs_start_highest_priority_first_then_in_arrival_order(conn: Conn) -> None:
    # the flow's own priority (3) is that of every run started without one
    limited(conn, 1, key="k")
    conn.execute("select pgflow.create_flow('f', priority => 3)")
    holder = start_with(conn, None)
    other_holder = start_with(conn, None, {"k": 1})
    low = start_with(conn, 1)  # below the flow's 3
    plain1 = start_with(conn, None)
    high1 = start_with(conn, 10)
    plain2 = start_with(conn, None)
    same = start_with(conn, 3)  # the flow's priority given explicitly: arrival order
    high2 = start_with(conn, 10)
    other_key = start_with(conn, 99, {"k": 1})  # another key's queue: not counted
    order = [high1, high2, plain1, plain2, same, low]
    assert statuses(conn, [holder, other_holder, other_key, *order]) == (
        ["started", "started"] + ["queued"] * 7
    )
    positions = [
        one(conn, 'select "position" from pgflow._queued_run_position(%s)', (run_id,))
        for run_id in order
    ]
    assert positions == [1, 2, 3, 4, 5, 6]
    started: list[uuid.UUID] = []
    running = holder
    for _ in order:
        finish(conn, running)
        (running,) = [r for r in order if r not in started and statuses(conn, [r]) == ["started"]]
        started.append(running)
    assert started == order


def test_a_higher_limit_admits_the_highest_priorities(conn: Conn) -> None:
    limited(conn, 1)
    holder = start_with(conn, None)
    waiting = [start_with(conn, p) for p in (None, 5, None, 7, -1)]
    conn.execute("select pgflow.create_flow('f', concurrency_limit => 3)")
    assert statuses(conn, [holder, *waiting]) == [
        "started",
        "queued",
        "started",
        "queued",
        "started",
        "queued",
    ]


def test_a_key_limits_each_value_separately(conn: Conn) -> None:
    limited(conn, 1, key="customer.id")
    a1 = start(conn, "f", {"customer": {"id": "a"}})
    b1 = start(conn, "f", {"customer": {"id": "b"}})
    a2 = start(conn, "f", {"customer": {"id": "a"}})
    none1 = start(conn, "f", {})
    none2 = start(conn, "f", {"customer": None})
    assert statuses(conn, [a1, b1, a2, none1, none2]) == [
        "started",
        "started",
        "queued",
        "started",
        "queued",
    ]
    finish(conn, b1)
    assert statuses(conn, [a2, none2]) == ["queued", "queued"]
    finish(conn, a1)
    assert statuses(conn, [a2, none2]) == ["started", "queued"]


def test_a_failed_run_frees_its_slot(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "max_attempts": 1}], concurrency_limit=1)
    first, second = start(conn, "f"), start(conn, "f")
    (task,) = claim(conn, "f")
    fail(conn, task, "boom")
    assert statuses(conn, [first, second]) == ["failed", "started"]


def test_cancelling_a_run_frees_its_slot_and_a_queued_run_just_ends(conn: Conn) -> None:
    limited(conn, 1)
    first, second, third = start(conn, "f"), start(conn, "f"), start(conn, "f")
    (row,) = rows(conn, "select status, cancelled_at from pgflow.cancel_run(%s)", (second,))
    assert row["status"] == "cancelled" and row["cancelled_at"] is not None
    assert rows(conn, "select status from pgflow.step_states where run_id = %s", (second,)) == [
        {"status": "cancelled"}
    ]
    assert statuses(conn, [first, second, third]) == ["started", "cancelled", "queued"]
    conn.execute("select pgflow.cancel_run(%s)", (first,))
    assert statuses(conn, [first, second, third]) == ["cancelled", "cancelled", "started"]
    assert len([t for t in claim(conn, "f") if t.run_id == third]) == 1


def test_retry_of_a_failed_run_queues_under_a_full_limit(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "max_attempts": 1}], concurrency_limit=1)
    first = start(conn, "f")
    (task,) = claim(conn, "f")
    fail(conn, task, "boom")
    second = start(conn, "f")
    (row,) = rows(conn, "select status from pgflow.retry_run(%s)", (first,))
    assert row["status"] == "queued"
    assert one(conn, "select count(*) from pgflow.step_tasks where run_id = %s", (first,)) == 0
    finish(conn, second)
    assert statuses(conn, [first]) == ["started"]
    finish(conn, first)
    assert statuses(conn, [first, second]) == ["completed", "completed"]


def test_retry_with_a_free_slot_starts_at_once(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "max_attempts": 1}], concurrency_limit=1)
    first = start(conn, "f")
    (task,) = claim(conn, "f")
    fail(conn, task, "boom")
    (row,) = rows(conn, "select status from pgflow.retry_run(%s)", (first,))
    assert row["status"] == "started"
    finish(conn, first)


def test_an_idempotent_start_of_a_queued_run_returns_it(conn: Conn) -> None:
    limited(conn, 1)
    start(conn, "f")
    query = "select run_id, status from pgflow.start_flow('f', '{}'::jsonb, idempotency_key => 'k')"
    (first,) = rows(conn, query)
    (again,) = rows(conn, query)
    assert first == again and first["status"] == "queued"
    assert one(conn, "select count(*) from pgflow.runs") == 2


def test_raising_the_limit_starts_waiting_runs_and_removing_it_starts_all(conn: Conn) -> None:
    limited(conn, 1)
    runs = [start(conn, "f") for _ in range(5)]
    conn.execute("select pgflow.create_flow('f', concurrency_limit => 3)")
    assert statuses(conn, runs) == ["started"] * 3 + ["queued"] * 2
    assert one(conn, "select opt_concurrency from pgflow.flows") == {"limit": 3}
    conn.execute("select pgflow.create_flow('f')")  # not given: kept
    assert one(conn, "select opt_concurrency from pgflow.flows") == {"limit": 3}
    conn.execute("select pgflow.create_flow('f', concurrency_limit => null)")
    assert statuses(conn, runs) == ["started"] * 5
    assert one(conn, "select opt_concurrency from pgflow.flows") is None


def test_adding_a_limit_counts_the_runs_already_in_progress(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    runs = [start(conn, "f", {"k": n % 2}) for n in range(4)]
    conn.execute("select pgflow.create_flow('f', concurrency_limit => 1, concurrency_key => 'k')")
    later = start(conn, "f", {"k": 0})
    assert statuses(conn, [*runs, later]) == ["started"] * 4 + ["queued"]
    finish(conn, runs[0])
    assert statuses(conn, [later]) == ["queued"]  # runs[2] still holds key 0
    finish(conn, runs[2])
    assert statuses(conn, [later]) == ["started"]


def test_the_key_is_kept_unless_given_and_needs_a_limit(conn: Conn) -> None:
    limited(conn, 2, key="a.b")
    conn.execute("select pgflow.create_flow('f', concurrency_limit => 4)")
    assert one(conn, "select opt_concurrency from pgflow.flows") == {"limit": 4, "key": "a.b"}
    conn.execute("select pgflow.create_flow('f', concurrency_key => null)")
    assert one(conn, "select opt_concurrency from pgflow.flows") == {"limit": 4}
    add_flow(conn, "g", [{"slug": "a"}])
    with pytest.raises(psycopg.errors.RaiseException) as err:
        conn.execute("select pgflow.create_flow('g', concurrency_key => 'x')")
    assert err.value.diag.message_primary == (
        'concurrency_key needs a concurrency_limit (flow "g" has none)'
    )
    for bad in ("concurrency_limit => 0", "concurrency_limit => 1, concurrency_key => 'a..b'"):
        with pytest.raises(psycopg.errors.CheckViolation) as check:
            conn.execute(f"select pgflow.create_flow('g', {bad})")
        assert check.value.diag.constraint_name == "opt_concurrency_is_valid"


def test_a_run_that_completes_at_once_admits_the_next(conn: Conn) -> None:
    # a root map over an empty array completes the run inside start_flow
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}], concurrency_limit=1)
    busy = start(conn, "f", [1])
    waiting = [start(conn, "f", []) for _ in range(3)]
    assert statuses(conn, [busy, *waiting]) == ["started", "queued", "queued", "queued"]
    finish(conn, busy)
    assert statuses(conn, waiting) == ["completed"] * 3


def test_the_sweep_starts_runs_a_release_left_behind(conn: Conn) -> None:
    limited(conn, 1)
    first, second = start(conn, "f"), start(conn, "f")
    # what a release that could not take its slot lock leaves: a free slot, a queued run
    conn.execute(
        "update pgflow.runs set status = 'cancelled', cancelled_at = now() where run_id = %s",
        (first,),
    )
    assert statuses(conn, [second]) == ["queued"]
    conn.execute("select pgflow.requeue_stalled_tasks()")
    assert statuses(conn, [second]) == ["started"]


def test_concurrent_starts_never_exceed_the_limit(dsn: str, conn: Conn) -> None:
    limited(conn, 3)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def starter() -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as own:
                barrier.wait()
                for _ in range(10):
                    own.execute("select pgflow.start_flow('f', '{}'::jsonb)")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=starter) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    counts = {
        r["status"]: r["n"]
        for r in rows(conn, "select status, count(*) as n from pgflow.runs group by 1")
    }
    assert counts == {"started": 3, "queued": 77}
    order = [
        r["run_id"]
        for r in rows(
            conn, "select run_id from pgflow.runs where status = 'queued' order by queue_seq"
        )
    ]
    assert len(set(order)) == 77
