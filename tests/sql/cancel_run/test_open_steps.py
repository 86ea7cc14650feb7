"""cancel_run ends the steps still open: a cancelled run shows only finished steps."""

import psycopg
import pytest

from ..helpers import Conn, add_flow, claim, complete, rows, start, step_state, step_statuses


def test_created_and_started_steps_end_cancelled_with_their_time(conn: Conn) -> None:
    add_flow(
        conn,
        "f",
        [{"slug": "a"}, {"slug": "b"}, {"slug": "c", "deps": ["a"]}, {"slug": "d", "deps": ["b"]}],
    )
    run_id = start(conn, "f")
    tasks = {t.step_slug: t for t in claim(conn, "f")}
    complete(conn, tasks["a"], 1)  # a completed, c started (queued), b started, d created
    assert step_statuses(conn, run_id) == {
        "a": "completed",
        "b": "started",
        "c": "started",
        "d": "created",
    }
    (run,) = rows(conn, "select cancelled_at from pgflow.cancel_run(%s)", (run_id,))
    assert step_statuses(conn, run_id) == {
        "a": "completed",
        "b": "cancelled",
        "c": "cancelled",
        "d": "cancelled",
    }
    for slug in ("b", "c", "d"):
        state = step_state(conn, run_id, slug)
        assert state["cancelled_at"] is not None
        assert state["cancelled_at"] >= run["cancelled_at"]
    assert step_state(conn, run_id, "a")["cancelled_at"] is None
    assert step_state(conn, run_id, "b")["started_at"] is not None  # kept: it did start


@pytest.mark.parametrize(
    "change",
    ["set cancelled_at = now()", "set status = 'cancelled'"],
    ids=["a cancel time on a started step", "cancelled without a time"],
)
def test_a_cancelled_step_has_a_cancel_time_and_only_it(conn: Conn, change: str) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    run_id = start(conn, "f")
    with pytest.raises(psycopg.errors.CheckViolation) as err:
        conn.execute(f"update pgflow.step_states {change} where run_id = %s", (run_id,))
    assert err.value.diag.constraint_name == "cancelled_at_matches_status"
