"""Schedule firing: every worker asks which of its flows' schedules are due and fires them.

The cron arithmetic happens here (``pgflow_yaml.schedules``, on the database's clock, which
``list_schedules`` returns), the exactly-once part in SQL: ``pgflow.fire_schedules`` locks each
schedule, starts a run per fire time after its ``settled_until`` and records the fire in the
same transaction. Any number of workers may fire the same schedule at once (docs/schedules.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pgflow_yaml import queries
from pgflow_yaml.errors import CoreNotInstalled, DatabaseError
from pgflow_yaml.schedules import CatchUp, due_times, fire_times
from pgflow_yaml.worker.protocol import WorkerProtocol
from pgflow_yaml.worker.store import Link

log = logging.getLogger("pgflow_yaml.worker")

REFRESH = 10.0
"""Seconds between looks at the schedules when none is due sooner (new or changed ones)."""
SLACK = 0.05
"""Seconds added to a wait so that the fire time has surely passed on the database's clock."""


def plan(rows: Iterable[Mapping[str, Any]], now: datetime) -> tuple[list[dict[str, Any]], float]:
    """Return the ``due`` argument of ``fire_schedules`` for ``rows`` of ``list_schedules`` at
    ``now``, and the seconds until the next fire time of any of them (at most :data:`REFRESH`).

    A schedule whose cron or timezone cannot be evaluated is logged and left out.
    """
    due: list[dict[str, Any]] = []
    wait = REFRESH
    for row in rows:
        if not row["enabled"] or row["paused_at"] is not None:
            continue
        try:
            catch_up: CatchUp = row["catch_up"]
            to_fire, through = due_times(
                row["cron"], row["timezone"], catch_up, row["settled_until"], now
            )
            upcoming = next(
                fire_times(row["cron"], row["timezone"], max(now, row["settled_until"]))
            )
        except Exception as exc:  # a bad row must not stop the other schedules
            log.warning(
                "cannot evaluate schedule",
                extra={
                    "action": "schedule_invalid",
                    "flow_slug": row["flow_slug"],
                    "schedule": row["schedule_name"],
                    "error": f"{type(exc).__name__}: {exc}",
                },
            )
            continue
        wait = min(wait, (upcoming - now).total_seconds())
        if through is not None:
            due.append(
                {
                    "flow_slug": row["flow_slug"],
                    "schedule_name": row["schedule_name"],
                    "through": through.isoformat(),
                    "fire_at": [moment.isoformat() for moment in to_fire],
                }
            )
    return due, max(0.0, wait)


def fire_due_sync(
    conn: psycopg.Connection[Any], flow_slugs: list[str] | None, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Fire what is due of the flows' schedules at ``now`` (default: the database's clock) on a
    sync connection; return the fire rows written (tests and tools use this; workers use
    :class:`ScheduleFirer`).
    """
    rows = queries.fetch_sync(conn, "list_schedules", {"flow_slugs": flow_slugs})
    if not rows:
        return []
    moment = now or rows[0]["now_at"]
    due, _ = plan(rows, moment)
    if not due:
        return []
    return queries.fetch_sync(conn, "fire_schedules", {"now": moment, "due": Jsonb(due)})


class ScheduleFirer:
    """A worker's part in firing its flows' schedules, on its own connection, through the
    worker's protocol (a core that has schedules)."""

    def __init__(
        self,
        dsn: str,
        protocol: WorkerProtocol,
        stopping: asyncio.Event,
        *,
        pooled: bool = False,
    ) -> None:
        self.protocol = protocol
        self._link = Link(dsn, "schedules", stopping, pooled=pooled)
        self._stopping = stopping

    async def fire_due(self) -> float:
        """Fire what is due now; return the seconds until the next look."""
        rows = await self.protocol.schedules(self._link)
        if not rows:
            return REFRESH
        now: datetime = rows[0]["now_at"]
        due, wait = plan(rows, now)
        if due:
            fired = await self.protocol.fire_schedules(self._link, now, Jsonb(due))
            for fire in fired:
                log.info(
                    "schedule fired",
                    extra={
                        "action": "schedule_fired",
                        "flow_slug": fire["flow_slug"],
                        "schedule": fire["schedule_name"],
                        "fire_at": fire["fire_at"].isoformat(),
                        "outcome": fire["outcome"],
                        "run_id": fire["run_id"] and str(fire["run_id"]),
                        "error": fire["error_message"],
                    },
                )
        return wait + SLACK

    async def run(self) -> None:
        """Fire schedules until cancelled (or the core has no schedules)."""
        try:
            while not self._stopping.is_set():
                try:
                    wait = await self.fire_due()
                except CoreNotInstalled:
                    log.info(
                        "this core has no schedules", extra={"action": "schedules_unsupported"}
                    )
                    return
                except DatabaseError as exc:
                    log.warning(
                        "schedule firing failed",
                        extra={"action": "schedule_failed", "error": str(exc)},
                    )
                    wait = REFRESH / 5
                await asyncio.sleep(wait)
        finally:
            await self._link.close()
