"""pgflow.explain_run: the one reason each unfinished step or task is not running now."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from ..helpers import Conn, add_flow, claim, complete, fail, register_worker, rows, start


def _why(conn: Conn, run_id: uuid.UUID) -> list[dict[str, Any]]:
    return rows(
        conn,
        "select step_slug, task_index, reason, detail, until is not null as has_until"
        " from pgflow.explain_run(%s)",
        (run_id,),
    )


def test_dependencies_and_a_ready_task_waiting_for_a_worker(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b", "deps": ["a"]}])
    start(conn, "f")
    run_id = start(conn, "f")
    assert _why(conn, run_id) == [
        {
            "step_slug": "a",
            "task_index": 0,
            "reason": "waiting_for_worker",
            "detail": {"ahead": 1, "live_workers": 0},
            "has_until": False,
        },
        {
            "step_slug": "b",
            "task_index": None,
            "reason": "waiting_for_dependencies",
            "detail": {"dependencies": ["a"]},
            "has_until": False,
        },
    ]
    register_worker(conn, "f")
    assert _why(conn, run_id)[0]["detail"] == {"ahead": 1, "live_workers": 1}


def test_running_names_the_worker_and_the_timeout(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    run_id = start(conn, "f")
    claim(conn, "f")
    (row,) = _why(conn, run_id)
    assert (row["reason"], row["has_until"], row["detail"]["attempt"]) == ("running", True, 1)
    assert row["detail"]["worker_id"] == "00000000-0000-0000-0000-0000000000aa"


def test_concurrency_full_names_key_limit_and_holders(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "concurrency_limit": 1, "concurrency_key": "run.c"}])
    holder = start(conn, "f", {"c": "acme"})
    waiting = start(conn, "f", {"c": "acme"})
    claim(conn, "f")
    (row,) = _why(conn, waiting)
    assert row["reason"] == "concurrency_full"
    assert row["detail"] == {
        "key": "acme",
        "limit": 1,
        "in_flight": 1,
        "holding_runs": [str(holder)],
    }


def test_rate_limited_until_the_window_has_room(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "rate_limit": 1, "rate_per": 60}])
    first = start(conn, "f")
    second = start(conn, "f")
    (task,) = claim(conn, "f")
    complete(conn, task, {})
    assert rows(conn, "select count(*) as n from pgflow.explain_run(%s)", (first,)) == [{"n": 0}]
    (row,) = _why(conn, second)
    assert (row["reason"], row["detail"], row["has_until"]) == (
        "rate_limited",
        {"key": None, "limit": 1, "per": 60},
        True,
    )


def test_start_delay_and_retry_backoff(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "start_delay": 60}])
    (row,) = _why(conn, start(conn, "f"))
    assert (row["reason"], row["has_until"]) == ("start_delay", True)

    add_flow(conn, "g", [{"slug": "a", "max_attempts": 3, "base_delay": 60}])
    run_id = conn.execute("select run_id from pgflow.start_flow('g', '{}')").fetchone()
    assert run_id is not None
    (task,) = claim(conn, "g")
    fail(conn, task, "flaky")
    (row,) = _why(conn, run_id[0])
    assert (row["reason"], row["detail"], row["has_until"]) == (
        "retry_backoff",
        {"attempt": 1, "error_message": "flaky"},
        True,
    )


def test_waiting_for_a_signal(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "approve", "signal_schema": True, "timeout": 600}])
    (row,) = _why(conn, start(conn, "f"))
    assert (row["step_slug"], row["task_index"], row["reason"], row["has_until"]) == (
        "approve",
        None,
        "waiting_for_signal",
        True,
    )


def test_a_finished_run_has_no_reasons_and_an_unknown_run_is_refused(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    run_id = start(conn, "f")
    (task,) = claim(conn, "f")
    complete(conn, task, 1)
    assert _why(conn, run_id) == []
    with pytest.raises(psycopg.Error) as caught:
        conn.execute("select * from pgflow.explain_run(%s)", (uuid.uuid4(),))
    assert caught.value.sqlstate == "PF011"


def test_map_tasks_get_one_row_each(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map", "concurrency_limit": 1}])
    run_id = start(conn, "f", [1, 2, 3])
    claim(conn, "f")
    reasons = [(r["task_index"], r["reason"]) for r in _why(conn, run_id)]
    assert sorted(reason for _, reason in reasons) == [
        "concurrency_full",
        "concurrency_full",
        "running",
    ]
    assert sorted(index for index, _ in reasons) == [0, 1, 2]
