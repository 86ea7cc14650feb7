"""What the dashboard reads from the database: a few shared connections and the page queries.

Every statement is a named query of ``queries/ui.sql``. Connections are opened without
server-side prepared statements, so that the optional filters of a query fold away in each
plan (a generic plan would keep them and miss the indexes).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from pgflow_yaml import queries
from pgflow_yaml.db import connect_error

PAGE_SIZE = 50
RUN_STATUSES = ("queued", "started", "completed", "failed", "cancelled")
LIVE_SECONDS = 30.0  # a worker heard from within this many seconds is live
_HEX = re.compile(r"^[0-9a-f]{1,32}$")


async def open_connection(dsn: str) -> psycopg.AsyncConnection[Any]:
    """Open an autocommit connection without prepared statements.

    Raises:
        ConnectError: the server cannot be reached or refuses (no password in the message).
    """
    try:
        return await psycopg.AsyncConnection.connect(dsn, autocommit=True, prepare_threshold=None)
    except psycopg.Error as exc:
        raise connect_error(dsn, exc) from None


class Database:
    """Up to ``size`` connections shared by the requests, opened when first needed."""

    def __init__(self, dsn: str, size: int = 4) -> None:
        self.dsn = dsn
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._slots = asyncio.Semaphore(size)

    async def fetch(self, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a named query on a free connection; return its rows.

        Raises:
            DatabaseError: the database refused it (``DatabaseUnavailable`` when unreachable).
        """
        async with self._slots:
            conn = self._idle.pop() if self._idle else await open_connection(self.dsn)
            try:
                rows = await queries.fetch(conn, name, params)
            except BaseException:
                await conn.close()
                raise
            self._idle.append(conn)
            return rows

    async def close(self) -> None:
        """Close every idle connection."""
        while self._idle:
            await self._idle.pop().close()


def run_id_range(text: str) -> tuple[str, str] | None:
    """Return the lowest and highest run id starting with ``text`` (hex digits, dashes ignored).

    None when ``text`` is not the start of a UUID.
    """
    digits = text.strip().lower().replace("-", "")
    if not _HEX.match(digits):
        return None
    low = digits.ljust(32, "0")
    high = digits.ljust(32, "f")
    return str(uuid.UUID(low)), str(uuid.UUID(high))


@dataclass(frozen=True)
class RunFilter:
    """The filters of the runs page: flow, status, run id prefix, and the keyset cursor."""

    flow_slug: str | None = None
    status: str | None = None
    run_id: str | None = None
    before_at: datetime | None = None
    before_id: str | None = None

    def params(self, limit: int) -> dict[str, Any]:
        """Return the parameters of ``ui_runs``."""
        id_range = run_id_range(self.run_id) if self.run_id else None
        return {
            "flow_slug": self.flow_slug or None,
            "status": self.status or None,
            "id_low": id_range[0] if id_range else None,
            "id_high": id_range[1] if id_range else None,
            "before_at": self.before_at,
            "before_id": self.before_id,
            "limit": limit,
        }


def cursor_of(row: dict[str, Any]) -> str:
    """Return the keyset cursor that pages past ``row`` (``<started_at>_<run_id>``)."""
    return f"{row['started_at'].isoformat()}_{row['run_id']}"


def parse_cursor(text: str | None) -> tuple[datetime | None, str | None]:
    """Return the (started_at, run_id) of a cursor; (None, None) when absent or malformed."""
    if not text or "_" not in text:
        return None, None
    at, _, run_id = text.rpartition("_")
    try:
        return datetime.fromisoformat(at), str(uuid.UUID(run_id))
    except ValueError:
        return None, None


async def runs_page(
    db: Database, where: RunFilter, limit: int = PAGE_SIZE
) -> tuple[list[dict[str, Any]], str | None]:
    """Return one page of runs and the cursor of the next page (None on the last page)."""
    if where.run_id and run_id_range(where.run_id) is None:
        return [], None
    rows = await db.fetch("ui_runs", where.params(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, cursor_of(rows[-1]) if more and rows else None


def ended_at(row: dict[str, Any]) -> datetime | None:
    """Return when a run, step or task ended, if it did."""
    for key in ("completed_at", "failed_at", "cancelled_at", "skipped_at"):
        if row.get(key) is not None:
            value: datetime = row[key]
            return value
    return None


def seconds(start: datetime | None, end: datetime | None, now: datetime) -> float | None:
    """Return the seconds from ``start`` to ``end`` (or ``now``); None without a start."""
    if start is None:
        return None
    return max(0.0, ((end or now) - start).total_seconds())


def human_duration(value: float | None) -> str:
    """Return seconds as "850 ms", "2.5 s", "3 min 20 s" or "2 h 5 min"; "" when unknown."""
    if value is None:
        return ""
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    if value < 3600:
        return f"{int(value // 60)} min {int(value % 60)} s"
    return f"{int(value // 3600)} h {int(value % 3600 // 60)} min"


async def flow_steps(db: Database, flow_slug: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Return the steps of every flow (or of one), by flow slug, in step order."""
    by_flow: dict[str, list[dict[str, Any]]] = {}
    for row in await db.fetch("ui_flow_steps", {"flow_slug": flow_slug}):
        by_flow.setdefault(row["flow_slug"], []).append(row)
    return by_flow


async def flow_counts(db: Database) -> dict[str, dict[str, dict[str, int]]]:
    """Return ``{flow: {"hour"|"day": {status: runs}}}`` for runs started in the last day."""
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for row in await db.fetch("ui_flow_counts"):
        flow = counts.setdefault(row["flow_slug"], {"hour": {}, "day": {}})
        if row["last_hour"]:
            flow["hour"][row["status"]] = row["last_hour"]
        flow["day"][row["status"]] = row["last_day"]
    return counts


async def workers(db: Database, limit: int = 200) -> list[dict[str, Any]]:
    """Return the workers, live ones first, with their tasks in flight."""
    return await db.fetch("ui_workers", {"live_seconds": LIVE_SECONDS, "limit": limit})
