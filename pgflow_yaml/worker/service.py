"""Plain functions the CLI calls: prepare a worker, serve until stopped, or serve in a thread."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pgflow_yaml import db, queries
from pgflow_yaml.model import FlowSpec
from pgflow_yaml.worker.loop import Worker, WorkerOptions
from pgflow_yaml.worker.runner import Handler
from pgflow_yaml.worker.startup import (
    Replace,
    StartupNote,
    import_handlers,
    load_flows,
    verify_shapes,
)

log = logging.getLogger("pgflow_yaml.worker")


def load(
    paths: Sequence[str | Path], *, only: Sequence[str] = ()
) -> tuple[list[FlowSpec], dict[tuple[str, str], Handler]]:
    """Load the flows and import their handlers; touches no database (nothing is created).

    Raises:
        StartupError: invalid files, or handlers that do not import (each with its hint).
    """
    flows = load_flows(paths, only)
    return flows, import_handlers(flows)


def check_database(
    dsn: str,
    flows: Sequence[FlowSpec],
    *,
    apply: bool = False,
    replace: Replace | None = None,
) -> list[StartupNote]:
    """Check (with ``apply``: install, or update the options of) the flows in the database.

    Returns:
        What was installed, replaced or left different (:func:`verify_shapes`).

    Raises:
        ShapeMismatch: a flow is missing (without ``apply``) or differs in shape.
        pgflow_yaml.db.ConnectError: the database cannot be reached (one line, no password).
        DatabaseError: the database has no core or rejects the check.
    """
    with queries.translated(), db.connect(dsn, autocommit=True) as conn:
        return verify_shapes(conn, flows, apply=apply, replace=replace)


def log_notes(notes: Sequence[StartupNote]) -> None:
    """Log the start-up's notes: a warning for a difference left as it is, else info."""
    for note in notes:
        level = logging.WARNING if note.warning else logging.INFO
        log.log(level, note.text, extra={"action": "flow_checked", "flow_slug": note.flow_slug})


def prepare(
    paths: Sequence[str | Path],
    dsn: str,
    *,
    only: Sequence[str] = (),
    apply: bool = False,
) -> tuple[list[FlowSpec], dict[tuple[str, str], Handler]]:
    """Load the flows, import their handlers, then check (or install) them in the database.

    The notes of the check are logged (:func:`log_notes`).

    Raises:
        StartupError: invalid files, handlers that do not import, or a shape mismatch.
        pgflow_yaml.db.ConnectError: the database cannot be reached (one line, no password).
        DatabaseError: the database has no core or rejects the check.
    """
    flows, handlers = load(paths, only=only)
    log_notes(check_database(dsn, flows, apply=apply))
    return flows, handlers


def serve(worker: Worker) -> None:
    """Run a worker until SIGINT/SIGTERM (a second signal exits at once)."""

    async def main() -> None:
        worker.install_signal_handlers()
        await worker.run()

    asyncio.run(main())


class WorkerThread:
    """A worker running on its own event loop in a background thread (``pgflow run``)."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._main, name="pgflow-worker", daemon=True)

    def start(self) -> None:
        """Start the worker and wait until its loop runs."""
        self._thread.start()
        self._started.wait()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the worker gracefully and wait for its thread."""
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self.worker.stop)
        self._thread.join(timeout)

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._started.set()
            await self.worker.run()

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by the caller
            self.error = exc
        finally:
            self._started.set()


def make_worker(
    dsn: str,
    handlers: dict[tuple[str, str], Handler],
    flows: Sequence[FlowSpec] = (),
    **options: Any,
) -> Worker:
    """Build a worker with the given options (``WorkerOptions`` fields).

    The flows give each step's timeout, for databases whose claim does not return it.
    """
    timeouts = {(f.slug, s.slug): f.effective(s)[2] for f in flows for s in f.steps}
    return Worker(dsn, handlers, WorkerOptions(**options), timeouts=timeouts)
