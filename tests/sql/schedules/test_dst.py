"""Daylight saving time: a skipped local time fires once at the next valid time, a repeated
one fires once; in two timezones, through the firing function with a simulated clock."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..helpers import Conn
from .calls import fire, scheduled_flow, utc


def _hourly_fires(conn: Conn, start: datetime, hours: int) -> list[str]:
    fired: list[str] = []
    for hour in range(1, hours + 1):
        fired += [at for at, outcome in fire(conn, start + timedelta(hours=hour, minutes=45))]
    return fired


def test_berlin_spring_forward_and_fall_back(conn: Conn) -> None:
    scheduled_flow(
        conn,
        since=utc("2026-03-28T00:00"),
        cron="30 2 * * *",
        timezone="Europe/Berlin",
        overlap="allow",
    )
    # 2026-03-29 02:30 does not exist in Berlin: it fires once, at 03:00 CEST (01:00 UTC)
    assert _hourly_fires(conn, utc("2026-03-28T00:00"), 70) == [
        "2026-03-28T01:30+00:00",
        "2026-03-29T01:00+00:00",
        "2026-03-30T00:30+00:00",
    ]
    conn.execute("update pgflow.schedules set settled_until = %s", (utc("2026-10-24T00:00"),))
    # 2026-10-25 02:30 happens twice in Berlin: it fires once, at the first (00:30 UTC)
    assert _hourly_fires(conn, utc("2026-10-24T00:00"), 70) == [
        "2026-10-24T00:30+00:00",
        "2026-10-25T00:30+00:00",
        "2026-10-26T01:30+00:00",
    ]


def test_new_york_spring_forward_and_fall_back(conn: Conn) -> None:
    scheduled_flow(
        conn,
        since=utc("2026-03-07T12:00"),
        cron="30 2 * * *",
        timezone="America/New_York",
        overlap="allow",
    )
    # 2026-03-08 02:30 EST does not exist: 03:00 EDT (07:00 UTC)
    assert _hourly_fires(conn, utc("2026-03-07T12:00"), 48) == [
        "2026-03-08T07:00+00:00",
        "2026-03-09T06:30+00:00",
    ]
    conn.execute(
        "update pgflow.schedules set cron = '30 1 * * *', settled_until = %s",
        (utc("2026-10-31T12:00"),),
    )
    # 2026-11-01 01:30 happens twice in New York (EDT, then EST): once, at 05:30 UTC
    assert _hourly_fires(conn, utc("2026-10-31T12:00"), 48) == [
        "2026-11-01T05:30+00:00",
        "2026-11-02T06:30+00:00",
    ]


def test_a_wildcard_hour_follows_the_real_clock_through_fall_back(conn: Conn) -> None:
    scheduled_flow(
        conn,
        since=utc("2026-10-24T23:59"),
        cron="0 * * * *",
        timezone="Europe/Berlin",
        overlap="allow",
        catch_up="all",
    )
    assert [at for at, _ in fire(conn, utc("2026-10-25T03:00"))] == [
        "2026-10-25T00:00+00:00",
        "2026-10-25T01:00+00:00",
        "2026-10-25T02:00+00:00",
        "2026-10-25T03:00+00:00",
    ]
