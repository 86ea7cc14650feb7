"""The worker's reporter: when finished tasks go to the database, and what is kept meanwhile.

The reporter decides when a batch goes and keeps it while the database is away; the worker's
protocol object (``worker.protocol``) decides how it is stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pgflow_yaml.worker.errors import DatabaseUnavailable
from pgflow_yaml.worker.protocol import WorkerProtocol
from pgflow_yaml.worker.runner import Outcome
from pgflow_yaml.worker.store import Link

log = logging.getLogger("pgflow_yaml.worker")

Reserve = Callable[[list[Outcome]], int]
"""Return how many tasks the report of a batch may claim in the same call (slots it reserves
until ``Claimed`` gives them back), 0 for none."""
Claimed = Callable[[Link, list[dict[str, Any]], int], Awaitable[None]]
"""Start the rows a report claimed on a link, and give back the slots it had reserved."""


class Reporter:
    """Send finished tasks to the database in batches, keeping them until they are accepted.

    Each link is one sender: a batch is whatever accumulated while the previous one was in
    the database, so reporting adds no latency when idle and amortises commits when busy.
    Several links send batches in parallel (the database works on them on several cores).
    ``on_flushed`` is called after each batch the database took (in the event loop, before
    the sender's next await): completions may have made dependent tasks visible. With
    ``claim``, a batch for which ``claim[0]`` reserves slots is sent with
    ``report_and_claim`` (one round trip stores it and claims, the tasks it made ready among
    those claimed) and the claimed rows go to ``claim[1]``; ``on_flushed`` is then called only
    when the claim took all it asked for (else nothing more was visible).
    """

    def __init__(
        self,
        links: list[Link],
        protocol: WorkerProtocol,
        on_flushed: Callable[[], None],
        max_batch: int = 200,
        claim: tuple[Reserve, Claimed] | None = None,
    ) -> None:
        self._links = links
        self._protocol = protocol
        self._pending: list[Outcome] = []
        self._sending: list[list[Outcome]] = []  # the batches in the database right now
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._on_flushed = on_flushed
        self._max_batch = max_batch
        self._claim = claim
        self.sent = 0

    def add(self, outcome: Outcome) -> None:
        """Queue an outcome for the next batch."""
        self._pending.append(outcome)
        self._idle.clear()
        self._ready.set()

    @property
    def pending(self) -> int:
        """Return how many outcomes are not yet accepted by the database."""
        return len(self._pending) + sum(map(len, self._sending))

    async def flushed(self) -> None:
        """Wait until everything queued so far has been accepted by the database."""
        await self._idle.wait()

    async def run(self) -> None:
        """Send batches, one sender per link, until cancelled or the links give up.

        A link gives up only when the worker is stopping and the database cannot be reached;
        the results not yet sent stay in ``unsent``.
        """
        await asyncio.gather(*(self._sender(link) for link in self._links))

    @property
    def unsent(self) -> list[Outcome]:
        """Return the outcomes not yet accepted: those being sent, then those waiting."""
        return [o for batch in self._sending for o in batch] + self._pending

    async def _sender(self, link: Link) -> None:
        while True:
            await self._ready.wait()
            if not self._pending:
                self._ready.clear()
                continue
            batch = self._pending[: self._max_batch]
            del self._pending[: len(batch)]
            self._sending.append(batch)
            woke = True  # whether the claim loop is to look for tasks this batch made ready
            try:
                woke = await self._report(link, batch)
            except DatabaseUnavailable as exc:
                self._sent(batch)
                self._pending[:0] = batch  # keep them, first in line
                self._ready.set()  # another sender may be waiting for work (or must give up)
                log.warning(
                    "results kept until the database is back",
                    extra={"action": "report_deferred", "pending": self.pending, "error": str(exc)},
                )
                try:
                    await link.connection()  # waits, with backoff, for the database
                except DatabaseUnavailable:
                    return  # the worker is stopping and the database is still away
                continue
            except Exception as exc:  # a bug must not silence reporting for good
                log.exception(
                    "could not report a batch; its tasks will be requeued as stalled",
                    extra={"action": "report_failed", "tasks": len(batch), "error": str(exc)},
                )
                self._sent(batch)
                batch = []  # dropped: counted as neither pending nor sent
            else:
                self._sent(batch)
            self.sent += len(batch)
            if woke:
                self._on_flushed()
            if not self._pending and not self._sending:
                self._idle.set()

    async def _report(self, link: Link, batch: list[Outcome]) -> bool:
        """Send a batch; claim in the same call when ``claim`` reserves slots for it.

        Returns whether the claim loop should still look for tasks: not when this call
        claimed and got fewer than it asked for (nothing else was visible then).
        """
        if self._claim is not None:
            await link.connection()  # (reconnecting: its backoff holds no reserved slot)
        qty = self._claim[0](batch) if self._claim is not None else 0
        rows = None
        try:
            if qty > 0:
                rows = await self._protocol.report_and_claim(link, batch, qty)
        finally:
            if rows is None and qty > 0 and self._claim is not None:
                await self._claim[1](link, [], qty)  # give the reserved slots back
        if rows is None:
            await self._protocol.report(link, batch)
            return True
        assert self._claim is not None
        await self._claim[1](link, rows, qty)
        return len(rows) >= qty

    def _sent(self, batch: list[Outcome]) -> None:
        """Forget a batch that is no longer in the database's hands."""
        self._sending[:] = [b for b in self._sending if b is not batch]
