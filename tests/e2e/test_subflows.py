"""Sub-flow steps end to end: real worker processes, child runs started by the core.

The parent ``sf_parent`` maps over its items with ``flow: sf_child``; each child run's handler
logs every execution (``start``/``done`` lines with the worker's pid) to a file, so the tests
count executions per element and per process.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
from typer.testing import CliRunner

from pgflow_yaml import AsyncClient
from pgflow_yaml.cli import app
from pgflow_yaml.client import Client, RunSummary

from .conftest import E2E, StartWorker, wait_until

FLOWS = E2E / "subflows"


def _items(log: Path, count: int, **extra: Any) -> dict[str, Any]:
    return {"items": [{"n": n, "log": str(log), **extra} for n in range(count)]}


def _lines(log: Path, event: str) -> list[tuple[int, str, int, int]]:
    """Return ``(n, child run, attempt, pid)`` of every ``event`` line of the log."""
    if not log.exists():
        return []
    found = []
    for line in log.read_text().splitlines():
        kind, n, run_id, attempt, pid = line.split()
        if kind == event:
            found.append((int(n), run_id, int(attempt), int(pid)))
    return found


def test_a_map_of_100_child_runs_completes_with_outputs_in_order(
    start_worker: StartWorker, client: Client, tmp_path: Path
) -> None:
    log = tmp_path / "work.log"
    start_worker(FLOWS)
    run_id = client.start("sf_parent", _items(log, 100))
    run = client.wait(run_id, 120)
    assert run.status == "completed", run.error
    squares = sum(n * n for n in range(100))
    assert run.output == {"total": {"sum": squares, "order": list(range(100))}}
    children = client.children(run_id)
    assert len(children) == 100
    assert [c.parent_task_index for c in children] == list(range(100))
    assert {c.status for c in children} == {"completed"}
    assert {c.parent_run_id for c in children} == {run_id}
    assert sorted(n for n, *_ in _lines(log, "start")) == list(range(100))
    child = client.get(children[7].run_id)
    assert (child.parent_run_id, child.parent_step_slug, child.parent_task_index) == (
        run_id,
        "each",
        7,
    )
    assert child.output == {"work": {"n": 7, "squared": 49}}

    async def listed() -> list[RunSummary]:
        async with AsyncClient(client.dsn) as aclient:
            return await aclient.children(run_id)

    assert asyncio.run(listed()) == children


def test_a_failed_child_is_retried_with_a_new_child_run(
    start_worker: StartWorker, client: Client, tmp_path: Path
) -> None:
    log = tmp_path / "work.log"
    start_worker(FLOWS)
    items = _items(log, 2)
    items["items"][0]["fail_first"] = 1
    run = client.wait(client.start("sf_parent", items), 60)
    assert run.status == "completed", run.error
    assert run.output == {"total": {"sum": 1, "order": [0, 1]}}
    children = client.children(run.run_id)
    assert [(c.parent_task_index, c.status) for c in children] == [
        (0, "failed"),
        (0, "completed"),
        (1, "completed"),
    ]
    assert Counter(n for n, *_ in _lines(log, "start")) == {0: 2, 1: 1}


def test_exhausted_retries_fail_the_parent_with_the_childs_error(
    start_worker: StartWorker, client: Client, tmp_path: Path
) -> None:
    log = tmp_path / "work.log"
    start_worker(FLOWS)
    run = client.wait(client.start("sf_parent", _items(log, 1, fail_first=5)), 60)
    assert run.status == "failed"
    assert run.error is not None and run.error.step_slug == "each"
    assert run.error.message is not None
    assert run.error.message.endswith("failed: RuntimeError: item 0 fails on execution 3")
    assert run.error.attempt == 3
    assert run.error.error_type == "child_run_failed"
    assert [c.status for c in client.children(run.run_id)] == ["failed"] * 3


def test_cancelling_a_parent_cancels_its_running_children(
    start_worker: StartWorker, client: Client, tmp_path: Path
) -> None:
    log, release = tmp_path / "work.log", tmp_path / "release"
    start_worker(FLOWS)
    run_id = client.start("sf_parent", _items(log, 3, until=str(release)))
    wait_until(lambda: len(_lines(log, "start")) == 3, what="three children to run")
    assert client.cancel(run_id).status == "cancelled"
    children = client.children(run_id)
    assert [c.status for c in children] == ["cancelled"] * 3
    release.touch()  # the handlers finish; their results are ignored
    wait_until(lambda: len(_lines(log, "done")) == 3, what="the handlers to return")
    assert [client.get(c.run_id).status for c in children] == ["cancelled"] * 3
    assert client.get(run_id).status == "cancelled"


def test_retry_of_a_parent_retries_its_failed_child(
    start_worker: StartWorker, client: Client, tmp_path: Path
) -> None:
    log = tmp_path / "work.log"
    start_worker(FLOWS)
    run = client.wait(client.start("sf_parent", _items(log, 1, fail_first=3)), 60)
    assert run.status == "failed"
    last = client.children(run.run_id)[-1]
    assert client.retry(run.run_id).status == "started"
    run = client.wait(run.run_id, 60)
    assert run.status == "completed", run.error
    children = client.children(run.run_id)
    assert len(children) == 3  # no new child: the last failed one ran again
    assert (children[-1].run_id, children[-1].status) == (last.run_id, "completed")

    runner = CliRunner()
    listed = runner.invoke(app, ["runs", "--parent", run.run_id, "--json", "--dsn", client.dsn])
    assert listed.exit_code == 0, listed.output
    assert [r["run_id"] for r in json.loads(listed.stdout)] == [c.run_id for c in children]
    status = runner.invoke(app, ["status", run.run_id, "--dsn", client.dsn])
    assert status.exit_code == 0, status.output
    assert "child runs:" in status.stdout and last.run_id in status.stdout
    shown = runner.invoke(app, ["status", last.run_id, "--json", "--dsn", client.dsn])
    assert json.loads(shown.stdout)["parent_run_id"] == run.run_id


def test_a_worker_killed_while_children_run_completes_everything_once(
    start_worker: StartWorker, client: Client, tmp_path: Path
) -> None:
    log = tmp_path / "work.log"
    victim = start_worker(FLOWS)
    survivor = start_worker(FLOWS)
    run_id = client.start("sf_parent", _items(log, 40, sleep=0.3))
    killed = victim.proc.pid
    wait_until(
        lambda: sum(1 for *_, pid in _lines(log, "start") if pid == killed) >= 4,
        what="the first worker to run children",
    )
    victim.signal(signal.SIGKILL)
    victim.wait(10)

    run = client.wait(run_id, 120)
    assert run.status == "completed", run.error
    assert run.output == {"total": {"sum": sum(n * n for n in range(40)), "order": list(range(40))}}
    children = client.children(run_id)
    completed = Counter(c.parent_task_index for c in children if c.status == "completed")
    assert completed == Counter(range(40))  # one completed child run per element
    starts = _lines(log, "start")
    runs_per_item = Counter(n for n, *_ in starts)
    lost = {n for n, _, _, pid in starts if pid == killed}
    assert lost, "the killed worker ran nothing"
    # an element ran more than once only if the killed worker had it
    assert {n for n, count in runs_per_item.items() if count > 1} <= lost
    assert set(runs_per_item) == set(range(40))
    assert survivor.proc.poll() is None


def _overlap(log: Path) -> int:
    """Return the most child executions the log shows in progress at once."""
    running = most = 0
    for line in log.read_text().splitlines():
        running += 1 if line.startswith("start ") else -1
        most = max(most, running)
    return most


def test_children_of_a_flow_with_a_run_limit_queue_and_all_complete(
    start_worker: StartWorker, client: Client, tmp_path: Path
) -> None:
    log = tmp_path / "work.log"
    start_worker(FLOWS)
    with psycopg.connect(client.dsn, autocommit=True) as conn:
        conn.execute("select pgflow.create_flow('sf_child', concurrency_limit => 2)")
    run_id = client.start("sf_parent", _items(log, 6, sleep=0.3))
    run = client.wait(run_id, 120)
    assert run.status == "completed", run.error
    assert run.output == {"total": {"sum": sum(n * n for n in range(6)), "order": list(range(6))}}
    children = client.children(run_id)
    assert [c.status for c in children] == ["completed"] * 6  # one child each: none failed
    assert _overlap(log) <= 2


def test_cancelling_the_parent_cancels_the_children_still_queued(
    start_worker: StartWorker, client: Client, tmp_path: Path
) -> None:
    log, until = tmp_path / "work.log", tmp_path / "go"
    start_worker(FLOWS)
    with psycopg.connect(client.dsn, autocommit=True) as conn:
        conn.execute("select pgflow.create_flow('sf_child', concurrency_limit => 2)")
    run_id = client.start("sf_parent", _items(log, 6, until=str(until)))
    wait_until(lambda: len(_lines(log, "start")) == 2, what="two children running")
    statuses = Counter(c.status for c in client.children(run_id))
    assert statuses == {"started": 2, "queued": 4}
    assert client.cancel(run_id).status == "cancelled"
    until.touch()  # the two running handlers end; their results are ignored
    assert [c.status for c in client.children(run_id)] == ["cancelled"] * 6
    time.sleep(1)  # nothing of the cancelled children may start meanwhile
    assert len(_lines(log, "start")) == 2


def test_a_child_run_over_the_step_timeout_is_cancelled_and_retried(
    start_worker: StartWorker, client: Client, tmp_path: Path
) -> None:
    log = tmp_path / "work.log"
    start_worker(FLOWS)
    items = _items(log, 2)
    items["items"][0]["sleep_first"] = 15  # over the step's 3 s on its first child run only
    run = client.wait(client.start("sf_timed", items), 60)
    assert run.status == "completed", run.error
    assert run.output == {"total": {"sum": 1, "order": [0, 1]}}
    children = client.children(run.run_id)
    assert [(c.parent_task_index, c.status) for c in children] == [
        (0, "cancelled"),
        (0, "completed"),
        (1, "completed"),
    ]
    # the parent went on after the timeout, not after the slow handler returned
    assert [n for n, *_ in _lines(log, "done")] == [1, 0]
    with psycopg.connect(client.dsn) as conn:
        (attempts,) = conn.execute(
            "select attempts_count from pgflow.step_tasks"
            " where run_id = %s and step_slug = 'each' and task_index = 0",
            (run.run_id,),
        ).fetchone() or (None,)
    assert attempts == 2
