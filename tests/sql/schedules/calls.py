"""Schedule helpers: define schedules, fire them at a simulated time, read the fire records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from pgflow_yaml.worker.schedules import fire_due_sync

from ..helpers import Conn, add_flow, rows

T0 = datetime(2026, 3, 20, tzinfo=UTC)


def utc(text: str) -> datetime:
    """Return the UTC instant ``YYYY-MM-DDTHH:MM[:SS]``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def scheduled_flow(conn: Conn, slug: str = "f", since: datetime = T0, **schedule: Any) -> None:
    """Create a one-step flow with one schedule (``name`` "s"), settled up to ``since``."""
    add_flow(conn, slug, [{"slug": "a"}])
    set_schedules(conn, slug, [{"name": "s", **schedule}])
    conn.execute(
        "update pgflow.schedules set settled_until = %s where flow_slug = %s", (since, slug)
    )


def set_schedules(conn: Conn, slug: str, items: list[dict[str, Any]]) -> int:
    row = conn.execute("select pgflow.set_schedules(%s, %s)", (slug, Jsonb(items))).fetchone()
    assert row is not None
    return int(row[0])


def fire(conn: Conn, now: datetime, flows: list[str] | None = None) -> list[tuple[str, str]]:
    """Fire what is due at ``now``; return ``(fire_at as ISO UTC, outcome)`` of each fire."""
    return [
        (f["fire_at"].astimezone(UTC).isoformat(timespec="minutes"), f["outcome"])
        for f in fire_due_sync(conn, flows, now)
    ]


def fires(conn: Conn, slug: str = "f") -> list[dict[str, Any]]:
    """Return the fire records of a flow, oldest first."""
    return rows(
        conn,
        "select schedule_name, fire_at, outcome, run_id, error_message from pgflow.schedule_fires"
        " where flow_slug = %s order by fire_at",
        (slug,),
    )
