"""Under parallel workers that complete, fail, cancel and retry at random, invariants hold.

Slow: runs only with PGFLOW_SLOW=1.
"""

import contextlib
import json
import os
import random
import threading
import time
import uuid

import psycopg
import pytest

from ..helpers import Conn, Task, add_flow, claim, one, rows, start

pytestmark = pytest.mark.skipif(not os.environ.get("PGFLOW_SLOW"), reason="set PGFLOW_SLOW=1")

RUNS = 60
WORKERS = 4


def _report(conn: Conn, tasks: list[Task], rng: random.Random) -> None:
    done = [t for t in tasks if rng.random() > 0.15]
    failed = [t for t in tasks if t not in done]
    if done:
        results = [
            {
                "run_id": str(t.run_id),
                "step_slug": t.step_slug,
                "task_index": t.task_index,
                "attempt": t.attempt,
                "output": [1, 2, 3] if t.step_slug == "a" else t.input,
            }
            for t in done
        ]
        conn.execute("select pgflow.complete_tasks(%s::jsonb)", (json.dumps(results),))
    if failed:
        failures = [
            {
                "run_id": str(t.run_id),
                "step_slug": t.step_slug,
                "task_index": t.task_index,
                "attempt": t.attempt,
                "error_message": "random",
                "retryable": rng.random() > 0.2,
            }
            for t in failed
        ]
        conn.execute("select pgflow.fail_tasks(%s::jsonb)", (json.dumps(failures),))


def test_invariants_hold(conn: Conn, dsn: str) -> None:
    add_flow(
        conn,
        "f",
        [
            {"slug": "a"},
            {"slug": "m", "deps": ["a"], "step_type": "map", "when_exhausted": "skip"},
            {"slug": "b", "deps": ["a"]},
            {"slug": "z", "deps": ["m", "b"]},
        ],
        max_attempts=3,
        base_delay=0,
    )
    runs = [start(conn, "f", {"i": i}) for i in range(RUNS)]
    errors: list[BaseException] = []
    stop = time.monotonic() + 60

    def work(seed: int) -> None:
        rng = random.Random(seed)
        try:
            with psycopg.connect(dsn, autocommit=True) as own:
                worker_id = uuid.uuid4()
                while time.monotonic() < stop:
                    tasks = claim(own, "f", qty=5, worker_id=worker_id)
                    if rng.random() < 0.02:
                        run_id = rng.choice(runs)
                        own.execute("select pgflow.cancel_run(%s)", (run_id,))
                    if rng.random() < 0.05:
                        for run_id in runs:
                            if one(
                                own, "select status from pgflow.runs where run_id = %s", (run_id,)
                            ) in ("failed", "cancelled"):
                                # another worker may retry it first
                                with contextlib.suppress(psycopg.errors.RaiseException):
                                    own.execute("select pgflow.retry_run(%s)", (run_id,))
                                break
                    if not tasks:
                        if not one(
                            own, "select count(*) from pgflow.runs where status = 'started'"
                        ):
                            return
                        time.sleep(0.01)
                        continue
                    _report(own, tasks, rng)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    # a run that ended has no open task; a started step of a started run has open tasks
    assert (
        rows(
            conn,
            "select r.run_id, t.step_slug from pgflow.runs r"
            " join pgflow.step_tasks t using (run_id)"
            " where r.status <> 'started' and t.status in ('queued', 'started')",
        )
        == []
    )
    assert (
        rows(
            conn,
            "select ss.run_id, ss.step_slug from pgflow.step_states ss"
            " join pgflow.runs r using (run_id)"
            " where r.status = 'started' and ss.status = 'started' and not exists ("
            "  select 1 from pgflow.step_tasks t where t.run_id = ss.run_id"
            "  and t.step_slug = ss.step_slug and t.status in ('queued', 'started'))",
        )
        == []
    )
    # counters agree with the rows they count
    assert (
        rows(
            conn,
            "select r.run_id from pgflow.runs r"
            " where r.status = 'started' and r.remaining_steps <> ("
            " select count(*) from pgflow.step_states ss where ss.run_id = r.run_id"
            " and ss.status not in ('completed', 'skipped'))",
        )
        == []
    )
    assert (
        rows(
            conn,
            "select ss.run_id, ss.step_slug from pgflow.step_states ss where ss.status = 'started'"
            " and ss.remaining_tasks <> (select count(*) from pgflow.step_tasks t"
            " where t.run_id = ss.run_id and t.step_slug = ss.step_slug"
            " and t.status <> 'completed')"
            " and exists (select 1 from pgflow.runs r where r.run_id = ss.run_id"
            " and r.status = 'started')",
        )
        == []
    )
    completed = rows(conn, "select output from pgflow.runs where status = 'completed'")
    assert all(set(r["output"]) == {"z"} for r in completed)
