"""What the dashboard reads from the database: a few shared connections and the page queries.

Every statement is a named query of ``queries/ui.sql``. Connections are opened without
server-side prepared statements, so that the optional filters of a query fold away in each
plan (a generic plan would keep them and miss the indexes).

When the database has the roles (``pgflow install --roles``) and the login is a member of
``pgflow_client``, every connection of the dashboard (pages, live updates, actions) starts as
that role (``options=-c role=pgflow_client``), so it holds only that role's rights whatever
else the login may do; ``settle_role`` decides it once, at startup.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgflow_yaml import queries
from pgflow_yaml.client import Reason, ScheduleInfo
from pgflow_yaml.db import connect_error
from pgflow_yaml.errors import CoreNotInstalled, PgflowError

PAGE_SIZE = 50
RUN_STATUSES = ("queued", "started", "completed", "failed", "cancelled")
LIVE_SECONDS = 30.0  # a worker heard from within this many seconds is live
log = logging.getLogger("pgflow_yaml.ui")
_HEX = re.compile(r"^[0-9a-f]{1,32}$")
CLIENT_ROLE = "pgflow_client"


async def open_connection(dsn: str) -> psycopg.AsyncConnection[Any]:
    """Open an autocommit connection without prepared statements.

    Raises:
        ConnectError: the server cannot be reached or refuses (no password in the message).
    """
    try:
        return await psycopg.AsyncConnection.connect(dsn, autocommit=True, prepare_threshold=None)
    except psycopg.Error as exc:
        raise connect_error(dsn, exc) from None


def with_role(dsn: str, role: str) -> str:
    """Return ``dsn`` with ``-c role=<role>`` added to its options: sessions start as ``role``."""
    params = conninfo_to_dict(dsn)
    options = f"{params.get('options') or ''} -c role={role}".strip()
    return make_conninfo(dsn, options=options)


@dataclass(frozen=True)
class RoleChoice:
    """Which rights the dashboard's connections hold, decided once at startup.

    Attributes:
        dsn: the DSN every connection of the dashboard uses.
        login: the login (``session_user``).
        role: ``pgflow_client`` when the connections start as it, else None.
        message: what to tell the operator (None: nothing to say, no roles installed).
        warn: whether ``message`` is a warning (the login's own rights are used).
    """

    dsn: str
    login: str
    role: str | None
    message: str | None
    warn: bool = False


async def settle_role(dsn: str) -> RoleChoice:
    """Decide whether the dashboard runs as ``pgflow_client``: when the database has the roles
    and the login is a member of it (a superuser is a member of every role).

    Raises:
        ConnectError: the server cannot be reached or refuses.
        DatabaseError: the check itself failed.
    """
    conn = await open_connection(dsn)
    try:
        rows = await queries.fetch(conn, "ui_client_role", {"role": CLIENT_ROLE})
    finally:
        await conn.close()
    row = rows[0]
    login = str(row["login"])
    if not row["installed"]:
        return RoleChoice(dsn, login, None, None)
    if not row["member"]:
        return RoleChoice(
            dsn,
            login,
            None,
            f"the login {login} is not a member of {CLIENT_ROLE}: pgflow ui runs with the"
            f" login's own rights (grant {CLIENT_ROLE} to {login}, or pass --dsn with a login"
            f" of {CLIENT_ROLE})",
            warn=True,
        )
    return RoleChoice(
        with_role(dsn, CLIENT_ROLE),
        login,
        CLIENT_ROLE,
        f"pgflow ui runs as role {CLIENT_ROLE} (login {login}): it may read runs and act only"
        f" as {CLIENT_ROLE} may",
    )


class Database:
    """Up to ``size`` connections shared by the requests, opened when first needed.

    The first connection settles the role (``settle_role``): every connection after it, the
    live updates' and the actions' included, uses the DSN it chose.
    """

    def __init__(self, dsn: str, size: int = 4) -> None:
        self.login_dsn = dsn
        self.choice: RoleChoice | None = None
        self._settling = asyncio.Lock()
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._slots = asyncio.Semaphore(size)

    async def settle(self) -> RoleChoice:
        """Return the role choice, deciding it (and logging it) the first time.

        Raises:
            ConnectError: the server cannot be reached or refuses (retried on the next call).
        """
        async with self._settling:
            if self.choice is None:
                choice = await settle_role(self.login_dsn)
                if choice.message:
                    (log.warning if choice.warn else log.info)(
                        "%s", choice.message, extra={"action": "ui_role"}
                    )
                self.choice = choice
            return self.choice

    async def dsn(self) -> str:
        """Return the DSN of the dashboard's connections (the role settled)."""
        return (await self.settle()).dsn

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        """Open a connection with the settled role (see ``open_connection``)."""
        return await open_connection(await self.dsn())

    async def fetch(self, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a named query on a free connection; return its rows.

        Raises:
            DatabaseError: the database refused it (``DatabaseUnavailable`` when unreachable).
        """
        async with self._slots:
            conn = self._idle.pop() if self._idle else await self.connect()
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


async def schedules(db: Database) -> dict[str, list[ScheduleInfo]]:
    """Return the schedules of every flow, by flow slug, with their next fires and last fire.

    A core without schedules (before pgflow-yaml 0.3) has none.
    """
    try:
        rows = await db.fetch("list_schedules", {"flow_slugs": None})
    except CoreNotInstalled:
        return {}
    by_flow: dict[str, list[ScheduleInfo]] = {}
    for row in rows:
        by_flow.setdefault(row["flow_slug"], []).append(ScheduleInfo.from_row(row, count=1))
    return by_flow


UNFINISHED = ("queued", "started")


def why_row(reason: Reason) -> dict[str, Any]:
    """Return what a run page shows of one reason: step, task, reason, sentence, until (UTC)."""
    until = reason.until
    return {
        "step_slug": reason.step_slug,
        "task_index": "" if reason.task_index is None else str(reason.task_index),
        "reason": reason.reason,
        "text": reason.describe(),
        "until": f"{until.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if until else "",
    }


async def why(db: Database, run_id: str) -> list[dict[str, Any]]:
    """Return why each unfinished step or task of a run is not running now
    (``pgflow.explain_run``, granted to ``pgflow_client``), one ``why_row`` each.

    An unknown run (pruned meanwhile) or a core without ``explain_run`` has none.
    """
    try:
        rows = await db.fetch("explain_run", {"run_id": run_id})
    except (CoreNotInstalled, PgflowError) as exc:
        log.debug("no reasons for run %s: %s", run_id, exc)
        return []
    return [why_row(Reason(**row)) for row in rows]
