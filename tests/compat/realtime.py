"""A stand-in for Supabase Realtime that records every ``realtime.send`` call, for event tests.

``install_recorder`` creates (or replaces) ``realtime.send(payload, event, topic, private)`` with
a function that appends its arguments to ``realtime.sent``; ``sent_events`` reads back the events
of one run's topic in the order they were sent, with the run id and timestamps replaced by
placeholders so that the events of two databases (ours and pgflow 0.8.1) compare exactly.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import psycopg

RECORDER = """
create schema if not exists realtime;
create table if not exists realtime.sent (
  seq bigserial primary key,
  payload jsonb,
  event text,
  topic text,
  private boolean
);
create or replace function realtime.send(
  payload jsonb, event text, topic text, private boolean default true
) returns void language sql as $$
  insert into realtime.sent (payload, event, topic, private) values (payload, event, topic, private)
$$;
"""

_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$")

Event = tuple[str, dict[str, Any], str, bool]


def install_recorder(conn: psycopg.Connection[Any]) -> None:
    """Make ``realtime.send`` record its calls into ``realtime.sent``."""
    conn.execute(RECORDER)


def normalise(payload: dict[str, Any], run_id: uuid.UUID) -> dict[str, Any]:
    """Return ``payload`` with the run id as ``<run>`` and every ``*_at`` timestamp as ``<ts>``."""
    out: dict[str, Any] = {}
    for key, value in payload.items():
        if key == "run_id":
            assert value == str(run_id), payload
            out[key] = "<run>"
        elif key.endswith("_at"):
            assert isinstance(value, str) and _TIMESTAMP.match(value), payload
            out[key] = "<ts>"
        else:
            out[key] = value
    return out


def sent_events(conn: psycopg.Connection[Any], run_id: uuid.UUID) -> list[Event]:
    """Return (event, normalised payload, topic, private) of the run's events in send order."""
    rows = conn.execute(
        "select event, payload, topic, private from realtime.sent where topic = %s order by seq",
        (f"pgflow:run:{run_id}",),
    ).fetchall()
    return [(e, normalise(p, run_id), "pgflow:run:<run>", private) for e, p, _, private in rows]
