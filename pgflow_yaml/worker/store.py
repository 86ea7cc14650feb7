"""The worker's connections to the database, each re-opened with backoff when it breaks.

A ``Link`` is one autocommit connection used by one part of the worker (claiming, reporting,
housekeeping, listening), so a slow report never delays a claim. Every statement goes through
``pgflow_yaml.queries`` by name; driver errors arrive here already translated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from typing import Any

import psycopg

from pgflow_yaml import queries
from pgflow_yaml.worker.errors import DatabaseUnavailable

log = logging.getLogger("pgflow_yaml.worker")

BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0


def backoff_delays(first: float = BACKOFF_FIRST, cap: float = BACKOFF_MAX) -> Any:
    """Yield ever longer waits (doubling, capped, with +-25% jitter) between reconnect attempts."""
    delay = first
    while True:
        yield delay * random.uniform(0.75, 1.25)
        delay = min(delay * 2, cap)


class Link:
    """One named autocommit connection that reconnects with backoff when it breaks.

    With ``relaxed_commit`` the session runs with ``synchronous_commit = off``: a commit no
    longer waits for its WAL flush (about 4 ms on a busy disk, most of a hand-off). A server
    crash can then forget the last few hundred milliseconds of claims and results; the tasks
    involved are simply run again (claims revert, results are requeued as stalled), which the
    at-least-once contract of a task already allows. Nothing becomes inconsistent.
    """

    def __init__(
        self,
        dsn: str,
        name: str,
        stopped: asyncio.Event | None = None,
        *,
        relaxed_commit: bool = False,
    ) -> None:
        self._dsn = dsn
        self._relaxed_commit = relaxed_commit
        self.name = name
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._stopped = stopped
        self.reconnects = 0
        self._connected_once = False

    async def connection(self) -> psycopg.AsyncConnection[Any]:
        """Return the open connection, opening it (retrying with backoff) when needed.

        Raises:
            DatabaseUnavailable: ``stopped`` was set before a connection could be made.
        """
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        await self.close()
        for attempt, delay in enumerate(backoff_delays(), start=1):
            try:
                with queries.translated():
                    self._conn = await psycopg.AsyncConnection.connect(
                        self._dsn, autocommit=True, application_name=f"pgflow-worker:{self.name}"
                    )
            except DatabaseUnavailable as exc:
                log.warning(
                    "cannot reach the database",
                    extra={
                        "action": "reconnect_failed",
                        "link": self.name,
                        "attempt": attempt,
                        "retry_in": round(delay, 2),
                        "error": str(exc),
                    },
                )
                if self._stopped is not None and self._stopped.is_set():
                    raise
                await self._sleep(delay)
                continue
            if self._relaxed_commit:
                await queries.fetch(self._conn, "relax_commit")
            if self._connected_once:
                self.reconnects += 1
                log.info("reconnected", extra={"action": "reconnected", "link": self.name})
            self._connected_once = True
            return self._conn
        raise AssertionError("unreachable")

    async def _sleep(self, delay: float) -> None:
        if self._stopped is None:
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), delay)

    async def fetch(
        self, name: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run a named query; on a lost connection, drop it (the next call reconnects) and raise.

        Raises:
            DatabaseError: the statement failed (``DatabaseUnavailable``: the connection broke).
        """
        conn = await self.connection()
        try:
            return await queries.fetch(conn, name, params)
        except DatabaseUnavailable:
            await self.close()
            raise

    async def close(self) -> None:
        """Close the connection if one is open."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            with contextlib.suppress(psycopg.Error, OSError):
                await conn.close()
