"""A handler's ``ctx`` opens database connections only when asked (real PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from pgflow_yaml.worker.runner import Context, Handler, Task, run_task
from pgflow_yaml.worker.threads import DaemonPool


def make_ctx(dsn: str) -> Context:
    return Context(
        run_id="r",
        flow_slug="f",
        step_slug="s",
        task_index=0,
        attempt=1,
        worker_id="w",
        logger=logging.LoggerAdapter(logging.getLogger("t"), {}),
        shutdown=threading.Event(),
        _dsn=dsn,
    )


def test_sync_and_async_handlers_reach_the_database_through_ctx(dsn: str) -> None:
    def sync_handler(data: Any, ctx: Context) -> Any:
        with ctx.connect() as conn:
            row = conn.execute("select count(*) from pgflow.flows").fetchone()
            return row[0] if row else None

    async def async_handler(data: Any, ctx: Context) -> Any:
        async with await ctx.connect_async() as conn:
            cur = await conn.execute("select current_database()")
            row = await cur.fetchone()
            return row[0] if row else None

    task = Task("f", "r", "s", 0, 1, 1, 10, None)
    pool = DaemonPool()

    async def main() -> list[Any]:
        return [
            await run_task(task, Handler.inspect("m:sync", sync_handler), make_ctx(dsn), pool),
            await run_task(task, Handler.inspect("m:async", async_handler), make_ctx(dsn), pool),
        ]

    try:
        sync_outcome, async_outcome = asyncio.run(main())
    finally:
        pool.shutdown()
    assert sync_outcome.output_json == "0"
    assert async_outcome.ok and async_outcome.output_json.startswith('"pgflow_t_')
