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
import time
from collections.abc import Mapping
from typing import Any

import psycopg

from pgflow_yaml import db, metrics, queries, redaction
from pgflow_yaml.worker.errors import DatabaseUnavailable

log = logging.getLogger("pgflow_yaml.worker")

BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0
STOPPING_CONNECT_TIMEOUT = 2.0
"""How long one last connection attempt may take once the worker is stopping."""


def backoff_delays(first: float = BACKOFF_FIRST, cap: float = BACKOFF_MAX) -> Any:
    """Yield ever longer waits (doubling, capped, with +-25% jitter) between reconnect attempts."""
    delay = first
    while True:
        yield delay * random.uniform(0.75, 1.25)
        delay = min(delay * 2, cap)


class Link:
    """One named autocommit connection that reconnects with backoff when it breaks.

    The backoff belongs to the link, not to one call: it grows (capped) across consecutive
    failures, including a connection that opens and breaks before any statement succeeds, and
    starts over only once a statement has succeeded on a connection.

    With ``stopped`` set (the worker is stopping) no wait happens any more: ``connection()``
    makes at most one bounded attempt and raises ``DatabaseUnavailable`` if it fails, and
    setting ``stopped`` interrupts a backoff wait or a connection attempt in progress.

    With ``relaxed_commit`` the session runs with ``synchronous_commit = off``: a commit no
    longer waits for its WAL flush (about 4 ms on a busy disk, most of a hand-off). A server
    crash can then forget the last few hundred milliseconds of claims and results; the tasks
    involved are simply run again (claims revert, results are requeued as stalled), which the
    at-least-once contract of a task already allows. Nothing becomes inconsistent.

    With ``pooled`` (the DSN reaches PostgreSQL through a transaction-mode pooler) the
    connection never prepares statements on the server (``prepare_threshold=None``), and the
    caller must not ask for ``relaxed_commit``, which is a session ``SET``.
    """

    def __init__(
        self,
        dsn: str,
        name: str,
        stopped: asyncio.Event | None = None,
        *,
        relaxed_commit: bool = False,
        pooled: bool = False,
    ) -> None:
        self._dsn = dsn
        self._pooled = pooled
        self._relaxed_commit = relaxed_commit
        self.name = name
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._stopped = stopped
        self.reconnects = 0
        self._connected_once = False
        self._worked = False  # a statement succeeded on the current connection
        self._failures = 0  # consecutive failures since a connection last worked
        self._delays = backoff_delays()
        self._wait: float | None = None  # backoff owed before the next attempt

    @property
    def _stopping(self) -> bool:
        return self._stopped is not None and self._stopped.is_set()

    async def connection(self) -> psycopg.AsyncConnection[Any]:
        """Return the open connection, opening it (retrying with backoff) when needed.

        Raises:
            DatabaseUnavailable: ``stopped`` was set and no connection could be made at once.
        """
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        await self.close()
        while True:
            if self._wait is not None and not self._stopping:
                await self._sleep(self._wait)
            try:
                self._conn = await self._connect()
            except DatabaseUnavailable as exc:
                await self.close()
                self._failed()
                log.warning(
                    "cannot reach the database",
                    extra={
                        "action": "reconnect_failed",
                        "link": self.name,
                        "attempt": self._failures,
                        "retry_in": None if self._stopping else round(self._wait or 0, 2),
                        "error": str(exc),
                    },
                )
                if self._stopping:
                    raise
                continue
            self._worked = False
            if self._connected_once:
                self.reconnects += 1
                metrics.reconnected(self.name)
                log.info("reconnected", extra={"action": "reconnected", "link": self.name})
            self._connected_once = True
            return self._conn

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        """Open a connection; give up when ``stopped`` is set (or, once set, after a while).

        Raises:
            DatabaseUnavailable: the database cannot be reached, or the worker is stopping.
        """
        attempt = asyncio.ensure_future(self._open())
        if self._stopped is None:
            return await attempt
        if self._stopped.is_set():
            try:
                return await asyncio.wait_for(attempt, STOPPING_CONNECT_TIMEOUT)
            except TimeoutError:
                raise DatabaseUnavailable("no connection before the worker stopped") from None
        stop = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait({attempt, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if attempt.done():
            return attempt.result()
        attempt.cancel()
        await asyncio.wait({attempt})
        if not attempt.cancelled() and attempt.exception() is None:  # it finished meanwhile
            with contextlib.suppress(psycopg.Error, OSError):
                await attempt.result().close()
        raise DatabaseUnavailable("the worker is stopping")

    async def _open(self) -> psycopg.AsyncConnection[Any]:
        with queries.translated():
            conn = await psycopg.AsyncConnection.connect(
                self._dsn,
                autocommit=True,
                application_name=f"pgflow-worker:{self.name}",
                **db.session_kwargs(self._pooled),
            )
        redaction.remember(conn.info.password)  # the one libpq used: DSN, PGPASSWORD or passfile
        if self._relaxed_commit:
            try:
                await queries.fetch(conn, "relax_commit")
            except BaseException:
                with contextlib.suppress(psycopg.Error, OSError):
                    await conn.close()
                raise
        return conn

    def _failed(self) -> None:
        """Count one more consecutive failure; the next attempt waits a longer backoff."""
        self._failures += 1
        self._wait = next(self._delays)

    def _succeeded(self) -> None:
        """A statement worked: the next broken connection is re-opened at once."""
        if not self._worked:
            self._worked = True
            self._failures = 0
            self._delays = backoff_delays()
            self._wait = None

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

        A connection that breaks before any statement succeeded on it counts as a failed
        attempt, so the next one waits its backoff.

        Raises:
            DatabaseError: the statement failed (``DatabaseUnavailable``: the connection broke).
        """
        conn = await self.connection()
        began = time.perf_counter()
        try:
            rows = await queries.fetch(conn, name, params)
        except DatabaseUnavailable:
            if not self._worked:
                self._failed()
            await self.close()
            raise
        self._succeeded()
        metrics.query_done(name, time.perf_counter() - began)
        return rows

    async def close(self) -> None:
        """Close the connection if one is open."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            with contextlib.suppress(psycopg.Error, OSError):
                await conn.close()
