"""Three workers firing one every-minute schedule for 10 simulated days (1 day unless
PGFLOW_SLOW=1: 14,400 starts take minutes on a busy machine), with kills: each fire time starts
exactly one run."""

from __future__ import annotations

import os
import random
import threading
from datetime import UTC, timedelta
from typing import Any

import psycopg

from pgflow_yaml.worker.schedules import fire_due_sync

from ..helpers import Conn, one
from .calls import T0, scheduled_flow

DAYS = 10 if os.environ.get("PGFLOW_SLOW") == "1" else 1


def test_three_workers_fire_each_minute_once(dsn: str, conn: Conn) -> None:
    scheduled_flow(conn, cron="* * * * *", catch_up="all", overlap="allow")
    rng = random.Random(13)
    now = T0
    end = T0 + timedelta(days=DAYS)
    workers = [psycopg.connect(dsn) for _ in range(3)]
    kills = 0
    try:
        while now < end:
            now = min(end, now + timedelta(seconds=rng.randint(1, 600)))
            doomed = {i for i in range(3) if rng.random() < 0.2}
            kills += len(doomed)
            barrier = threading.Barrier(3)
            errors: list[BaseException] = []

            def work(
                i: int,
                at: Any = now,
                doomed: set[int] = doomed,
                barrier: threading.Barrier = barrier,
                errors: list[BaseException] = errors,
            ) -> None:
                try:
                    barrier.wait()
                    fire_due_sync(workers[i], ["f"], at)
                    if i in doomed:  # the worker dies before its commit: all of it is undone
                        workers[i].close()
                    else:
                        workers[i].commit()
                except BaseException as exc:  # reported below
                    errors.append(exc)

            threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert errors == []
            for i in doomed:  # a new process takes the killed one's place
                workers[i] = psycopg.connect(dsn)
        for c in workers:  # a last round with nobody killed settles the end
            fire_due_sync(c, ["f"], end)
            c.commit()
    finally:
        for c in workers:
            c.close()
    minutes = DAYS * 24 * 60
    assert kills > 10 * DAYS
    assert one(conn, "select count(*) from pgflow.schedule_fires") == minutes
    assert one(conn, "select count(*) from pgflow.runs") == minutes
    assert one(conn, "select count(distinct run_id) from pgflow.schedule_fires") == minutes
    first, last, outcomes = conn.execute(
        "select min(fire_at), max(fire_at), array_agg(distinct outcome) from pgflow.schedule_fires"
    ).fetchone()  # type: ignore[misc]
    assert (first.astimezone(UTC), last.astimezone(UTC), outcomes) == (
        T0 + timedelta(minutes=1),
        end,
        ["started"],
    )
