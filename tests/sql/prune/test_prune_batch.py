"""prune_batch, Client.prune and AsyncClient.prune: bounded batches, each its own transaction,
skipping locked runs."""

import asyncio
import json
import uuid
from typing import Any

import psycopg
import pytest

from pgflow_yaml.client import AsyncClient, Client, PruneResult
from pgflow_yaml.errors import UsageError

from ..helpers import Conn, add_flow, claim, complete, one, rows, start

CUTOFF = "now() - interval '1 day'"


def _finish(conn: Conn, flow: str) -> uuid.UUID:
    run_id = start(conn, flow)
    (task,) = claim(conn, flow)
    complete(conn, task, 1)
    return run_id


def _age(conn: Conn, run_id: uuid.UUID, days: int = 2) -> None:
    conn.execute(
        "update pgflow.runs set started_at = started_at - make_interval(days => %s),"
        " completed_at = completed_at - make_interval(days => %s) where run_id = %s",
        (days, days, run_id),
    )


def _history(conn: Conn) -> dict[str, Any]:
    """Five old finished runs, one old running run, two recent finished runs of flow f."""
    add_flow(conn, "f", [{"slug": "a"}])
    old = [_finish(conn, "f") for _ in range(5)]
    recent = [_finish(conn, "f") for _ in range(2)]
    running = start(conn, "f")
    for run_id in [*old, running]:
        _age(conn, run_id)
    return {"old": old, "running": running, "recent": recent}


def _archived_runs(conn: Conn) -> set[str]:
    return {r["run_id"] for r in rows(conn, "select message->>'run_id' as run_id from pgmq.a_f")}


def _queued_runs(conn: Conn) -> set[str]:
    return {r["run_id"] for r in rows(conn, "select message->>'run_id' as run_id from pgmq.q_f")}


def test_batches_delete_only_old_finished_runs_and_their_messages(conn: Conn) -> None:
    history = _history(conn)
    cutoff = one(conn, f"select {CUTOFF}")
    cursor: tuple[Any, Any] = (None, None)
    deleted: list[int] = []
    while True:
        (batch,) = rows(conn, "select * from pgflow.prune_batch(%s, 2, %s, %s)", (cutoff, *cursor))
        deleted.append(batch["runs_deleted"])
        if batch["last_run_id"] is None:
            break
        cursor = (batch["last_started_at"], batch["last_run_id"])
    # six runs started before the cutoff, two looked at per call; the running one is kept
    assert deleted == [2, 2, 1, 0]
    kept = {history["running"], *history["recent"]}
    assert {r["run_id"] for r in rows(conn, "select run_id from pgflow.runs")} == kept
    for table in ("step_states", "step_tasks"):
        left = one(
            conn, f"select count(*) from pgflow.{table} where run_id <> all(%s)", (list(kept),)
        )
        assert left == 0, table
    assert _archived_runs(conn) == {str(r) for r in history["recent"]}
    assert _queued_runs(conn) == {str(history["running"])}


def test_a_locked_run_is_skipped_without_waiting(conn: Conn, dsn: str) -> None:
    history = _history(conn)
    locked = history["old"][0]
    with psycopg.connect(dsn) as other:
        other.execute("select 1 from pgflow.runs where run_id = %s for update", (locked,))
        conn.execute("set lock_timeout = '2s'")  # a wait would fail the test, not hang it
        total = one(conn, f"select sum(runs_deleted) from pgflow.prune_batch({CUTOFF}, 100)")
        other.rollback()
    assert total == 4
    assert one(conn, "select count(*) from pgflow.runs where run_id = %s", (locked,)) == 1
    assert one(conn, "select pgflow.prune(interval '1 day')") == 1


def test_failed_and_retried_task_messages_go_too(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "max_attempts": 2}])
    run_id = start(conn, "f")
    (task,) = claim(conn, "f")
    conn.execute(
        "select pgflow.fail_task(%s, 'a', 0, 'boom', attempt => %s)", (run_id, task.attempt)
    )
    conn.execute("select pgmq.set_vt('f', %s, 0)", (task.msg_id,))  # no retry delay
    (again,) = claim(conn, "f")
    complete(conn, again, 1)
    _age(conn, run_id)
    assert one(conn, f"select runs_deleted from pgflow.prune_batch({CUTOFF}, 10)") == 1
    assert _archived_runs(conn) == set()
    assert _queued_runs(conn) == set()


def test_last_batch_prunes_stopped_workers(conn: Conn) -> None:
    conn.execute(
        "insert into pgflow.workers (worker_id, queue_name, function_name, stopped_at)"
        " values (gen_random_uuid(), 'f', 'w', now() - interval '3 days'),"
        " (gen_random_uuid(), 'f', 'w', null)"
    )
    (batch,) = rows(conn, f"select * from pgflow.prune_batch({CUTOFF}, 10)")
    assert batch == {"runs_deleted": 0, "last_started_at": None, "last_run_id": None}
    assert one(conn, "select count(*) from pgflow.workers") == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("prune_batch(null, 10)", "cutoff must not be null"),
        ("prune_batch(now(), 0)", "batch_size must be positive (got 0)"),
        ("prune_batch(now(), 10, now(), null)", "after_started_at and after_run_id go together"),
    ],
)
def test_rejects_bad_arguments(conn: Conn, call: str, message: str) -> None:
    with pytest.raises(psycopg.errors.RaiseException) as err:
        conn.execute(f"select * from pgflow.{call}")
    assert err.value.diag.message_primary == message


def test_client_prune_runs_batches_in_autocommit(conn: Conn, dsn: str) -> None:
    history = _history(conn)
    seen: list[tuple[int, int]] = []
    with Client(dsn) as client:
        result = client.prune("1 day", batch_size=4, on_batch=lambda b, n: seen.append((b, n)))
    assert (result.runs_deleted, result.batches) == (5, 2)
    assert seen == [(1, 4), (2, 5)]
    assert one(conn, "select count(*) from pgflow.runs") == 1 + len(history["recent"])


@pytest.mark.parametrize("older_than", ["-1 day", "soon"])
def test_client_prune_refuses_a_bad_interval(dsn: str, older_than: str) -> None:
    with Client(dsn) as client, pytest.raises(UsageError):
        client.prune(older_than)


def test_async_client_prune_runs_batches_like_the_sync_one(conn: Conn, dsn: str) -> None:
    history = _history(conn)
    seen: list[tuple[int, int]] = []

    async def prune() -> PruneResult:
        async with AsyncClient(dsn) as client:
            return await client.prune(
                "1 day", batch_size=2, pause=0.01, on_batch=lambda b, n: seen.append((b, n))
            )

    result = asyncio.run(prune())
    # six runs started before the cutoff, two looked at per batch; the running one is kept
    assert (result.runs_deleted, result.batches) == (5, 4)
    assert seen == [(1, 2), (2, 4), (3, 5), (4, 5)]
    kept = {history["running"], *history["recent"]}
    assert {r["run_id"] for r in rows(conn, "select run_id from pgflow.runs")} == kept


@pytest.mark.parametrize(("older_than", "batch_size"), [("-1 day", 10), ("soon", 10), ("1 day", 0)])
def test_async_client_prune_refuses_bad_arguments(
    dsn: str, older_than: str, batch_size: int
) -> None:
    async def prune() -> None:
        async with AsyncClient(dsn) as client:
            await client.prune(older_than, batch_size=batch_size)

    with pytest.raises(UsageError):
        asyncio.run(prune())


def test_pgflow_prune_command(conn: Conn, dsn: str) -> None:
    from typer.testing import CliRunner

    from pgflow_yaml.cli import app

    _history(conn)
    argv = ["prune", "--older-than", "1 day", "--batch-size", "2", "--json", "--dsn", dsn]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) | {"cutoff": None} == {
        "runs_deleted": 5,
        "batches": 4,
        "cutoff": None,
    }
    bad = CliRunner().invoke(app, ["prune", "--older-than", "someday", "--dsn", dsn])
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: older_than is not an interval: ")


def test_batches_delete_rate_starts_that_left_their_window(conn: Conn) -> None:
    # pgflow._fc_started deletes a group's old rows only when that group starts a task again:
    # the rows of a rate key never seen again are prune_batch's, whatever the cutoff
    add_flow(conn, "r", [{"slug": "a", "rate_limit": 5, "rate_per": 60}, {"slug": "b"}])
    conn.execute(
        "insert into pgflow.rate_starts (flow_slug, step_slug, rate_key, started_at) values"
        " ('r', 'a', 'gone', now() - interval '2 minutes'),"  # out of a's window
        " ('r', 'a', 'seen', now() - interval '2 minutes'),"
        " ('r', 'a', 'seen', now()),"  # inside it: still counted by the claim
        " ('r', 'b', '', now()),"  # b has no rate limit (any more)
        " ('old', 'x', '', now())"  # no such step
    )
    batches = []
    cursor: tuple[Any, Any] = (None, None)
    while True:
        (batch,) = rows(conn, "select * from pgflow.prune_batch(now(), 2, %s, %s)", cursor)
        batches.append(batch["runs_deleted"])
        cursor = (batch["last_started_at"], batch["last_run_id"])
        if batch["last_run_id"] is None:
            break
    # no run at all: two rows a call, a cursor past every run until fewer than two are left
    assert batches == [0, 0, 0]
    left = rows(conn, "select step_slug, rate_key from pgflow.rate_starts")
    assert left == [{"step_slug": "a", "rate_key": "seen"}]


def test_prune_deletes_rate_starts_out_of_their_window(conn: Conn) -> None:
    history = _history(conn)
    conn.execute("select pgflow.add_step('f', 'a', rate_limit => 1, rate_per => 3600)")
    conn.execute(
        "insert into pgflow.rate_starts (flow_slug, step_slug, rate_key, started_at) values"
        " ('f', 'a', '', now() - interval '2 hours'), ('f', 'a', '', now())"
    )
    assert one(conn, "select pgflow.prune(interval '1 day')") == len(history["old"])
    assert one(conn, "select count(*) from pgflow.rate_starts") == 1
