"""Live updates: one LISTEN connection for the whole server, fanned out to the open pages.

The core's triggers send the ids of the runs each statement changed on channel ``pgflow_runs``
(``*`` for more than 100). The hub collects them for a moment, reads what changed ONCE (run
rows for the runs lists, step states for the runs that a run page shows) and puts one event per
interested page on its queue; the pages read their queue as Server-Sent Events. A lost
connection is reopened with backoff, after which every page is told to refresh what it shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from pgflow_yaml import queries
from pgflow_yaml.errors import PgflowError
from pgflow_yaml.ui.data import UNFINISHED, Database, ended_at, human_duration, seconds, why

log = logging.getLogger("pgflow_yaml.ui")
CHANNEL = "pgflow_runs"
BATCH_SECONDS = 0.1
QUEUE_SIZE = 256
ALL = "*"


@dataclass(eq=False)
class Page:
    """One open page: what it shows (``runs`` or ``run:<id>``) and its queue of events."""

    topic: str
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    flow_slug: str | None = None  # a run page's flow, once its first event was read
    unfinished: bool = False  # a run page's run is queued or started: it shows reasons

    def send(self, event: str, data: Any) -> None:
        """Queue one event (dropped when the page does not keep up: it gets a reload instead)."""
        text = f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            with contextlib.suppress(asyncio.QueueEmpty):
                while True:
                    self.queue.get_nowait()
            self.queue.put_nowait("event: reload\ndata: {}\n\n")


class Hub:
    """The server's LISTEN connection and the pages it feeds."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.pages: set[Page] = set()
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def open(self, topic: str) -> Page:
        """Register a page that shows ``topic``; close it with :meth:`close`."""
        page = Page(topic)
        self.pages.add(page)
        return page

    def close(self, page: Page) -> None:
        """Forget a page (its browser tab went away)."""
        self.pages.discard(page)

    def start(self) -> None:
        """Start listening in the background."""
        self._task = asyncio.create_task(self._listen(), name="pgflow-ui-listen")

    async def stop(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            try:
                conn = await self.db.connect()
            except PgflowError as exc:
                log.warning("live updates: %s; retrying in %.0fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            try:
                await queries.fetch(conn, "hold_runs_listener_lock")  # the triggers notify
                await queries.fetch(conn, "listen_runs")
                if delay > 0.5:  # reconnected: what changed meanwhile is unknown
                    await self.dispatch({ALL})
                delay = 0.5
                self.connected.set()
                await self._pump(conn)
            except (PgflowError, OSError, psycopg.Error) as exc:
                log.warning("live updates: connection lost (%s); reconnecting", exc)
                delay = 1.0
            finally:
                self.connected.clear()
                await conn.close()
            await asyncio.sleep(delay)

    async def _pump(self, conn: Any) -> None:
        """Collect notifications for BATCH_SECONDS at a time; dispatch each batch once."""
        while True:
            changed: set[str] = set()
            async for note in conn.notifies(timeout=BATCH_SECONDS):
                changed.update(note.payload.split(","))
            if changed:
                await self.dispatch(changed)

    async def dispatch(self, changed: set[str], only: Page | None = None) -> None:
        """Read what changed once and queue an event for each page that shows it (or ``only``)."""
        pages = [only] if only is not None else list(self.pages)
        if not pages or not changed:
            return
        if ALL in changed:
            for page in pages:
                page.send("reload", {})
            return
        ids = sorted(changed)
        list_pages = [p for p in pages if p.topic == "runs"]
        run_pages = [p for p in pages if p.topic.startswith("run:") and p.topic[4:] in changed]
        try:
            runs = await self.db.fetch("ui_changed_runs", {"run_ids": ids})
            steps: list[dict[str, Any]] = []
            if run_pages:
                wanted = sorted({p.topic[4:] for p in run_pages})
                steps = await self.db.fetch("ui_changed_steps", {"run_ids": wanted})
        except PgflowError as exc:
            log.warning("live updates: cannot read the changes: %s", exc)
            return
        now = datetime.now(UTC)
        summary = {str(r["run_id"]): run_summary(r, now) for r in runs}
        for page in run_pages:
            if page.topic[4:] in summary:
                page.flow_slug = summary[page.topic[4:]]["flow_slug"]
                page.unfinished = summary[page.topic[4:]]["status"] in UNFINISHED
        # A run's reasons also depend on the other runs of its flow (the runs holding a step's
        # or the flow's slots): pages of unfinished runs of a flow with changed runs re-read them.
        flows = {item["flow_slug"] for item in summary.values()}
        side_pages = [
            p
            for p in pages
            if p.topic.startswith("run:")
            and p.topic[4:] not in changed
            and p.unfinished
            and p.flow_slug in flows
        ]
        reasons: dict[str, list[dict[str, Any]]] = {}
        for page in [*run_pages, *side_pages]:
            run_id = page.topic[4:]
            if page.unfinished and run_id not in reasons:
                reasons[run_id] = await why(self.db, run_id)  # once per run, not per page
        for page in side_pages:
            page.send("why", {"why": reasons[page.topic[4:]]})
        for page in list_pages:
            for item in summary.values():
                page.send("run", item)
        for page in run_pages:
            run_id = page.topic[4:]
            if run_id not in summary:
                continue
            page.send(
                "steps",
                {
                    "run": summary[run_id],
                    "steps": {
                        s["step_slug"]: s["status"] for s in steps if str(s["run_id"]) == run_id
                    },
                    "why": reasons.get(run_id, []),
                },
            )


def run_summary(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Return what the pages show of a run: id, flow, status, duration."""
    return {
        "run_id": str(row["run_id"]),
        "flow_slug": row["flow_slug"],
        "status": row["status"],
        "duration": human_duration(seconds(row["started_at"], ended_at(row), now)),
    }
