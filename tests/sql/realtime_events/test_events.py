"""Realtime events beyond pgflow 0.8.1 (conditions, when_exhausted, cancel, retry) and the cases
where the core must not call realtime.send. The events 0.8.1 also sends are compared with the
real 0.8.1 core in tests/compat/test_realtime_081.py."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from psycopg import sql

from tests.compat.realtime import Event, install_recorder, sent_events

from ..helpers import Conn, add_flow, claim, complete, fail, one, register_worker, start


@pytest.fixture
def recorder(conn: Conn) -> Iterator[Conn]:
    """Give the database a recording realtime.send; drop the realtime schema afterwards."""
    install_recorder(conn)
    yield conn
    conn.execute("drop schema realtime cascade")


def _names(events: list[Event]) -> list[str]:
    return [event for event, *_ in events]


def _payload(events: list[Event], name: str) -> dict[str, Any]:
    (payload,) = [p for event, p, *_ in events if event == name]
    return payload


def test_condition_skips_send_step_skipped_with_reason(recorder: Conn) -> None:
    add_flow(
        recorder,
        "f",
        [
            {"slug": "gate", "required_input_pattern": {"go": True}, "when_unmet": "skip-cascade"},
            {"slug": "after", "deps": ["gate"]},
            {"slug": "other"},
        ],
    )
    run_id = start(recorder, "f", {"go": False})
    events = sent_events(recorder, run_id)
    assert _names(events) == [
        "run:started",
        "step:gate:skipped",
        "step:after:skipped",
        "step:other:started",
    ]
    assert _payload(events, "step:gate:skipped") == {
        "event_type": "step:skipped",
        "run_id": "<run>",
        "flow_slug": "f",
        "step_slug": "gate",
        "status": "skipped",
        "skip_reason": "condition_unmet",
        "skipped_at": "<ts>",
    }
    assert _payload(events, "step:after:skipped")["skip_reason"] == "dependency_skipped"


def test_condition_fail_sends_step_failed_then_run_failed(recorder: Conn) -> None:
    add_flow(
        recorder,
        "f",
        [{"slug": "gate", "required_input_pattern": {"go": True}, "when_unmet": "fail"}],
    )
    run_id = start(recorder, "f", {"go": False})
    events = sent_events(recorder, run_id)
    assert _names(events) == ["run:started", "step:gate:failed", "run:failed"]
    assert _payload(events, "run:failed") == {
        "event_type": "run:failed",
        "run_id": "<run>",
        "flow_slug": "f",
        "status": "failed",
        "error_message": "Condition not met",
        "failed_at": "<ts>",
    }


def test_exhausted_step_with_when_exhausted_skip_sends_step_skipped(recorder: Conn) -> None:
    add_flow(
        recorder,
        "f",
        [{"slug": "a", "when_exhausted": "skip"}, {"slug": "b", "deps": ["a"]}],
        max_attempts=1,
    )
    register_worker(recorder, "f")
    run_id = start(recorder, "f")
    (task,) = claim(recorder, "f")
    fail(recorder, task, "no luck")
    events = sent_events(recorder, run_id)
    assert _names(events) == [
        "run:started",
        "step:a:started",
        "step:a:skipped",
        "step:b:started",
    ]
    skipped = _payload(events, "step:a:skipped")
    assert (skipped["skip_reason"], skipped["error_message"]) == ("handler_failed", "no luck")


def test_cancel_then_retry_send_run_cancelled_then_run_started(recorder: Conn) -> None:
    add_flow(recorder, "f", [{"slug": "a"}])
    register_worker(recorder, "f")
    run_id = start(recorder, "f", {"k": 1})
    recorder.execute("select pgflow.cancel_run(%s)", (run_id,))
    recorder.execute("select pgflow.retry_run(%s)", (run_id,))
    (task,) = claim(recorder, "f")
    complete(recorder, task, "done")
    events = sent_events(recorder, run_id)
    assert _names(events) == [
        "run:started",
        "step:a:started",
        "run:cancelled",
        "run:started",
        "step:a:started",
        "step:a:completed",
        "run:completed",
    ]
    assert _payload(events, "run:cancelled") == {
        "event_type": "run:cancelled",
        "run_id": "<run>",
        "flow_slug": "f",
        "status": "cancelled",
        "cancelled_at": "<ts>",
    }
    assert [p for e, p, *_ in events if e == "run:started"][1]["input"] == {"k": 1}


def test_events_are_public_on_the_runs_topic(recorder: Conn) -> None:
    add_flow(recorder, "f", [{"slug": "a"}])
    run_id = start(recorder, "f")
    assert recorder.execute("select distinct topic, private from realtime.sent").fetchall() == [
        (f"pgflow:run:{run_id}", False)
    ]


def test_no_send_function_in_the_realtime_schema_is_a_no_op(conn: Conn) -> None:
    conn.execute("create schema realtime")
    try:
        add_flow(conn, "f", [{"slug": "a"}])
        run_id = start(conn, "f")
        assert one(conn, "select status from pgflow.runs where run_id = %s", (run_id,)) == "started"
    finally:
        conn.execute("drop schema realtime cascade")


def test_send_owned_by_an_untrusted_role_is_never_called(recorder: Conn) -> None:
    """A realtime.send planted by a role that is not a superuser must not run as the core."""
    role = f"pgflow_rt_planter_{os.getpid()}"
    recorder.execute(sql.SQL("create role {} nologin").format(sql.Identifier(role)))
    try:
        recorder.execute(
            "grant usage on schema realtime to " + sql.Identifier(role).as_string(recorder)
        )
        recorder.execute(
            sql.SQL("alter function realtime.send(jsonb, text, text, boolean) owner to {}").format(
                sql.Identifier(role)
            )
        )
        add_flow(recorder, "f", [{"slug": "a"}])
        run_id = start(recorder, "f")
        assert sent_events(recorder, run_id) == []
        recorder.execute(
            "alter function realtime.send(jsonb, text, text, boolean) owner to postgres"
        )
        recorder.execute("select pgflow.cancel_run(%s)", (run_id,))
        assert _names(sent_events(recorder, run_id)) == ["run:cancelled"]
    finally:
        recorder.execute(
            "alter function realtime.send(jsonb, text, text, boolean) owner to current_user"
        )
        recorder.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
        recorder.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


def test_unknown_run_id_in_payload_is_never_sent(recorder: Conn) -> None:
    assert sent_events(recorder, uuid.uuid4()) == []
