"""pgflow.explain_run of a run held by its flow's concurrency limit (status 'queued'): every
step says 'run_queued', with the run's place in its queue and the runs holding the slots."""

from __future__ import annotations

import uuid
from typing import Any

from ..helpers import Conn, add_flow, claim, complete, rows, run_row, start

STEPS = [{"slug": "a"}, {"slug": "b", "deps": ["a"]}]


def _why(conn: Conn, run_id: uuid.UUID) -> list[dict[str, Any]]:
    return rows(
        conn,
        "select step_slug, task_index, reason, detail, until from pgflow.explain_run(%s)",
        (run_id,),
    )


def _queued(position: int, holding: list[uuid.UUID]) -> list[dict[str, Any]]:
    detail = {"position": position, "holding_runs": [str(h) for h in holding]}
    return [
        {"step_slug": slug, "task_index": None, "reason": "run_queued", "detail": detail,
         "until": None}
        for slug in ("a", "b")
    ]  # fmt: skip


def _finish(conn: Conn, run_id: uuid.UUID) -> None:
    while run_row(conn, run_id)["status"] == "started":
        tasks = [t for t in claim(conn, "f", qty=10) if t.run_id == run_id]
        assert tasks, "no task of the run to claim"
        for task in tasks:
            complete(conn, task, 1)


def test_each_queued_run_names_its_position_and_the_holders(conn: Conn) -> None:
    add_flow(conn, "f", STEPS, concurrency_limit=2)
    holders = [start(conn, "f") for _ in range(2)]
    waiting = [start(conn, "f") for _ in range(3)]
    assert [run_row(conn, r)["status"] for r in waiting] == ["queued"] * 3
    for position, run_id in enumerate(waiting, start=1):
        assert _why(conn, run_id) == _queued(position, holders)
    assert {r["reason"] for r in _why(conn, holders[0])} == {
        "waiting_for_worker",
        "waiting_for_dependencies",
    }


def test_positions_move_up_when_a_holder_ends(conn: Conn) -> None:
    add_flow(conn, "f", STEPS, concurrency_limit=1)
    holder = start(conn, "f")
    first, second = start(conn, "f"), start(conn, "f")
    _finish(conn, holder)
    assert run_row(conn, first)["status"] == "started"
    assert "run_queued" not in {r["reason"] for r in _why(conn, first)}
    assert _why(conn, second) == _queued(1, [first])


def test_a_key_queues_and_counts_each_value_apart(conn: Conn) -> None:
    add_flow(conn, "f", STEPS, concurrency_limit=1, concurrency_key="customer")
    acme = start(conn, "f", {"customer": "acme"})
    other = start(conn, "f", {"customer": "other"})
    acme_2, other_2, acme_3 = (start(conn, "f", {"customer": c}) for c in ("acme", "other", "acme"))
    assert _why(conn, acme_2) == _queued(1, [acme])
    assert _why(conn, acme_3) == _queued(2, [acme])
    assert _why(conn, other_2) == _queued(1, [other])


def test_without_a_key_value_the_runs_share_one_queue(conn: Conn) -> None:
    add_flow(conn, "f", STEPS, concurrency_limit=1, concurrency_key="customer")
    holder = start(conn, "f", {})
    waiting = start(conn, "f", {"customer": None})
    assert _why(conn, waiting) == _queued(1, [holder])


def test_a_cancelled_queued_run_has_no_reasons_and_leaves_the_queue(conn: Conn) -> None:
    add_flow(conn, "f", STEPS, concurrency_limit=1)
    holder = start(conn, "f")
    gone, last = start(conn, "f"), start(conn, "f")
    conn.execute("select pgflow.cancel_run(%s)", (gone,))
    assert _why(conn, gone) == []
    assert _why(conn, last) == _queued(1, [holder])
