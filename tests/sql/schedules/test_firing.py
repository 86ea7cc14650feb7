"""fire_schedules with a simulated clock: catch-up, overlap, pause and resume, failures."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from ..helpers import Conn, add_flow, claim, complete, one, rows
from .calls import T0, fire, fires, scheduled_flow, set_schedules, utc


def test_fires_each_due_time_once(conn: Conn) -> None:
    scheduled_flow(conn, cron="*/10 * * * *", catch_up="all", overlap="allow")
    assert fire(conn, T0 + timedelta(minutes=5)) == []
    assert fire(conn, T0 + timedelta(minutes=10)) == [("2026-03-20T00:10+00:00", "started")]
    assert fire(conn, T0 + timedelta(minutes=10, seconds=30)) == []
    assert fire(conn, T0 + timedelta(minutes=30)) == [
        ("2026-03-20T00:20+00:00", "started"),
        ("2026-03-20T00:30+00:00", "started"),
    ]
    assert one(conn, "select count(*) from pgflow.runs") == 3
    first = fires(conn)[0]
    assert rows(conn, "select input from pgflow.runs where run_id = %s", (first["run_id"],)) == [
        {"input": {}}
    ]


def test_runs_take_the_schedule_input(conn: Conn) -> None:
    scheduled_flow(conn, cron="@hourly", input={"region": "eu"})
    fire(conn, T0 + timedelta(hours=1))
    assert rows(conn, "select input from pgflow.runs") == [{"input": {"region": "eu"}}]


def test_catch_up_latest_starts_one_run_for_many_missed(conn: Conn) -> None:
    scheduled_flow(conn, cron="0 * * * *", catch_up="latest")
    assert fire(conn, T0 + timedelta(hours=5, minutes=20)) == [
        ("2026-03-20T05:00+00:00", "started")
    ]
    assert fire(conn, T0 + timedelta(hours=5, minutes=40)) == []


def test_catch_up_none_skips_what_is_more_than_a_minute_late(conn: Conn) -> None:
    scheduled_flow(conn, cron="0 * * * *", catch_up="none")
    assert fire(conn, T0 + timedelta(hours=5, minutes=20)) == []
    assert fire(conn, T0 + timedelta(hours=6, seconds=50)) == [
        ("2026-03-20T06:00+00:00", "started")
    ]
    assert [f["outcome"] for f in fires(conn)] == ["started"]


def test_catch_up_all_is_bounded_to_the_latest_hundred(conn: Conn) -> None:
    scheduled_flow(conn, cron="* * * * *", catch_up="all", overlap="allow")
    fired = fire(conn, T0 + timedelta(minutes=250))
    assert len(fired) == 100
    assert fired[0] == ("2026-03-20T02:31+00:00", "started")
    assert fired[-1] == ("2026-03-20T04:10+00:00", "started")
    assert fire(conn, T0 + timedelta(minutes=250)) == []


def test_overlap_skip_waits_for_the_previous_run(conn: Conn) -> None:
    scheduled_flow(conn, cron="*/5 * * * *")  # overlap skip is the default
    fire(conn, T0 + timedelta(minutes=5))
    assert fire(conn, T0 + timedelta(minutes=10)) == [("2026-03-20T00:10+00:00", "skipped")]
    (task,) = claim(conn, "f")
    complete(conn, task, 1)
    assert fire(conn, T0 + timedelta(minutes=15)) == [("2026-03-20T00:15+00:00", "started")]
    assert [f["outcome"] for f in fires(conn)] == ["started", "skipped", "started"]


def test_overlap_allow_starts_while_the_previous_runs(conn: Conn) -> None:
    scheduled_flow(conn, cron="*/5 * * * *", overlap="allow")
    fire(conn, T0 + timedelta(minutes=5))
    assert fire(conn, T0 + timedelta(minutes=10)) == [("2026-03-20T00:10+00:00", "started")]


def test_pause_fires_nothing_and_resume_does_not_catch_up(conn: Conn) -> None:
    scheduled_flow(conn, cron="*/5 * * * *", catch_up="all", overlap="allow")
    paused = rows(conn, "select paused_at from pgflow.pause_schedule('f', 's')")[0]
    assert paused["paused_at"] is not None
    assert fire(conn, T0 + timedelta(minutes=30)) == []
    resumed = rows(
        conn, "select paused_at, settled_until from pgflow.pause_schedule('f', 's', false)"
    )
    assert resumed[0]["paused_at"] is None
    # resuming settles up to the real clock, which is after every simulated time here
    assert resumed[0]["settled_until"] > T0 + timedelta(minutes=30)
    assert fire(conn, T0 + timedelta(minutes=30)) == []
    assert fires(conn) == []


def test_pause_and_trigger_of_an_unknown_schedule_raise(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    for call in ("pause_schedule('f', 'nope')", "trigger_schedule('f', 'nope')"):
        with pytest.raises(psycopg.Error) as err:
            conn.execute(f"select pgflow.{call}")
        assert err.value.sqlstate == "PF002"
        assert err.value.diag.message_primary == 'Schedule "nope" of flow "f" does not exist'


def test_trigger_starts_a_run_now_even_when_paused(conn: Conn) -> None:
    scheduled_flow(conn, cron="0 3 * * *", input={"n": 1})
    conn.execute("select pgflow.pause_schedule('f', 's')")
    fired = rows(conn, "select outcome, run_id from pgflow.trigger_schedule('f', 's')")[0]
    assert fired["outcome"] == "triggered"
    assert rows(conn, "select input, status from pgflow.runs") == [
        {"input": {"n": 1}, "status": "started"}
    ]


def test_disabled_schedule_never_fires(conn: Conn) -> None:
    scheduled_flow(conn, cron="* * * * *", enabled=False)
    assert fire(conn, T0 + timedelta(minutes=3)) == []


def test_a_start_that_raises_is_recorded_and_the_schedule_goes_on(conn: Conn) -> None:
    add_flow(conn, "m", [{"slug": "a", "step_type": "map"}])
    set_schedules(conn, "m", [{"name": "s", "cron": "*/5 * * * *", "input": {"not": "a list"}}])
    conn.execute("update pgflow.schedules set settled_until = %s", (T0,))
    assert fire(conn, T0 + timedelta(minutes=5), ["m"]) == [("2026-03-20T00:05+00:00", "failed")]
    (record,) = fires(conn, "m")
    assert (
        record["error_message"]
        == "Flow m has root map steps but input is not an array (got object)"
    )
    assert fire(conn, T0 + timedelta(minutes=10), ["m"]) == [("2026-03-20T00:10+00:00", "failed")]


def test_set_schedules_upserts_by_name_and_removes_the_rest(conn: Conn) -> None:
    scheduled_flow(conn, cron="* * * * *")
    set_schedules(conn, "f", [{"name": "s", "cron": "* * * * *"}, {"name": "t", "cron": "@daily"}])
    conn.execute("select pgflow.pause_schedule('f', 's')")
    set_schedules(conn, "f", [{"name": "s", "cron": "* * * * *", "overlap": "allow"}])
    assert rows(
        conn,
        "select schedule_name, overlap, paused_at is not null as paused, settled_until"
        " from pgflow.schedules",
    ) == [{"schedule_name": "s", "overlap": "allow", "paused": True, "settled_until": T0}]
    set_schedules(conn, "f", [{"name": "s", "cron": "*/2 * * * *"}])
    assert one(conn, "select settled_until > %s from pgflow.schedules", (T0,)) is True
    assert set_schedules(conn, "f", []) == 0
    assert one(conn, "select count(*) from pgflow.schedules") == 0


def test_set_schedules_rejects_bad_arguments(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    cases = {
        "select pgflow.set_schedules('nope', '[]')": 'Flow "nope" does not exist',
        "select pgflow.set_schedules('f', '{}')": "set_schedules expects a JSON array, got object",
        "select pgflow.set_schedules('f', '[{\"name\": \"s\"}]')": (
            'schedule {"name": "s"} lacks "cron"'
        ),
    }
    for query, message in cases.items():
        with pytest.raises(psycopg.errors.RaiseException) as err:
            conn.execute(query)
        assert err.value.diag.message_primary == message
    with pytest.raises(psycopg.errors.CheckViolation) as check:
        conn.execute(
            'select pgflow.set_schedules(\'f\', \'[{"name": "s", "cron": "@daily",'
            ' "overlap": "sometimes"}]\')'
        )
    assert check.value.diag.constraint_name == "overlap_is_valid"


def test_list_schedules_shows_the_last_fire_and_its_run(conn: Conn) -> None:
    scheduled_flow(conn, cron="*/5 * * * *")
    fire(conn, T0 + timedelta(minutes=5))
    (row,) = rows(conn, "select * from pgflow.list_schedules(array['f'])")
    assert (row["last_fire_at"], row["last_outcome"], row["last_run_status"]) == (
        utc("2026-03-20T00:05"),
        "started",
        "started",
    )
    assert rows(conn, "select * from pgflow.list_schedules(array['other'])") == []


def test_prune_removes_old_fire_records_with_their_runs(conn: Conn) -> None:
    scheduled_flow(conn, cron="*/5 * * * *")
    fire(conn, T0 + timedelta(minutes=5))
    fire(conn, T0 + timedelta(minutes=10))  # skipped: the first run is still started
    assert one(conn, "select pgflow.prune(interval '1 day')") == 0
    assert [f["outcome"] for f in fires(conn)] == ["started", "skipped"]  # their run is kept
    (task,) = claim(conn, "f")
    complete(conn, task, 1)
    conn.execute("update pgflow.runs set completed_at = %s, started_at = %s", (T0, T0))
    assert one(conn, "select pgflow.prune(interval '1 day')") == 1
    assert fires(conn) == []
