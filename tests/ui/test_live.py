"""The live-update hub hears run changes: its listening session holds the listener lock that
the core's pgflow_runs triggers test before notifying (no holder, no notifications)."""

from __future__ import annotations

import asyncio
import json
import time

import psycopg
import pytest

pytest.importorskip("starlette", reason="the ui extra is not installed")

from pgflow_yaml.ui.data import Database
from pgflow_yaml.ui.live import Hub
from tests.ui.helpers import Driver

LISTENER_LOCK = 7342002


def _lock_holders(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "select count(*) from pg_locks where locktype = 'advisory' and objid = %s"
            " and mode = 'ShareLock' and granted",
            (LISTENER_LOCK,),
        ).fetchone()
    return row[0] if row else 0


def test_the_hub_holds_the_listener_lock_and_pushes_a_started_run(dsn: str, driver: Driver) -> None:
    async def scenario() -> tuple[int, str, dict[str, str]]:
        db = Database(dsn)
        hub = Hub(db)
        page = hub.open("runs")
        hub.start()
        try:
            await asyncio.wait_for(hub.connected.wait(), 30)
            holders = _lock_holders(dsn)
            run_id = await asyncio.to_thread(driver.start)
            while True:
                text = await asyncio.wait_for(page.queue.get(), 30)
                event, data = text.split("\n")[:2]
                item = json.loads(data.removeprefix("data: "))
                if event == "event: run" and item["run_id"] == run_id:
                    return holders, run_id, item
        finally:
            await hub.stop()
            await db.close()

    holders, run_id, item = asyncio.run(scenario())
    assert holders == 1
    assert item["run_id"] == run_id
    assert item["status"] == "started"
    # the lock goes with the hub's connection (its backend exits just after the close)
    for _ in range(200):
        if _lock_holders(dsn) == 0:
            break
        time.sleep(0.05)
    assert _lock_holders(dsn) == 0
