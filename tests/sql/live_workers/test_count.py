"""live_workers counts the workers that serve a flow now: registered, heartbeating, running."""

import uuid

import pytest

from ..helpers import Conn, add_flow, one


def register(conn: Conn, queue_name: str, **columns: str) -> uuid.UUID:
    """Insert a worker row serving ``queue_name``; ``columns`` are SQL expressions."""
    worker_id = uuid.uuid4()
    conn.execute(
        "insert into pgflow.workers (worker_id, queue_name, function_name) values (%s, %s, 't')",
        (worker_id, queue_name),
    )
    for column, expression in columns.items():
        conn.execute(
            f"update pgflow.workers set {column} = {expression} where worker_id = %s",
            (worker_id,),
        )
    return worker_id


def live(conn: Conn, flow_slug: str | None, stale_after: str | None = None) -> int:
    if stale_after is None:
        return int(one(conn, "select pgflow.live_workers(%s)", (flow_slug,)))
    return int(one(conn, "select pgflow.live_workers(%s, %s::interval)", (flow_slug, stale_after)))


def test_no_worker_row_counts_zero(conn: Conn) -> None:
    add_flow(conn, "etl", [{"slug": "a"}])
    assert live(conn, "etl") == 0


def test_counts_workers_of_the_flow_alone_or_in_a_list(conn: Conn) -> None:
    register(conn, "etl")  # a pgflow 0.8.1 worker: one queue
    register(conn, "billing,etl")  # a pgflow-yaml worker serving two flows
    register(conn, "billing")
    register(conn, "etl_v2")  # a name that merely starts like it
    assert live(conn, "etl") == 2
    assert live(conn, "billing") == 2
    assert live(conn, "missing") == 0


@pytest.mark.parametrize(
    "columns",
    [
        {"stopped_at": "now()"},
        {"deprecated_at": "now()"},
        {"last_heartbeat_at": "now() - interval '31 seconds'"},
    ],
    ids=["stopped", "deprecated", "no heartbeat for 31 s"],
)
def test_a_stopped_deprecated_or_silent_worker_is_not_live(
    conn: Conn, columns: dict[str, str]
) -> None:
    register(conn, "etl", **columns)
    assert live(conn, "etl") == 0


def test_stale_after_sets_how_old_a_heartbeat_may_be(conn: Conn) -> None:
    register(conn, "etl", last_heartbeat_at="now() - interval '2 minutes'")
    assert live(conn, "etl") == 0
    assert live(conn, "etl", "5 minutes") == 1


def test_null_counts_nothing(conn: Conn) -> None:
    register(conn, "etl")
    assert live(conn, None) == 0
    assert one(conn, "select pgflow.live_workers('etl', null)") == 0
