"""Real worker processes against a real database, and helpers to watch them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pgflow_yaml.client import Client

E2E = Path(__file__).resolve().parent
FLOWS = E2E / "flows"
REPO = E2E.parent.parent
EXAMPLES = REPO / "flows_examples"


class WorkerProcess:
    """A ``pgflow run-worker`` subprocess writing JSON log lines to a file."""

    def __init__(self, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path

    def events(self, action: str | None = None) -> list[dict[str, Any]]:
        """Return the parsed log lines (only those with this action when given)."""
        found = []
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if action is None or event.get("action") == action:
                found.append(event)
        return found

    def wait_for(self, action: str, timeout: float = 30, **match: Any) -> dict[str, Any]:
        """Wait until a log line with this action (and these fields) appears; return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events(action):
                if all(event.get(k) == v for k, v in match.items()):
                    return event
            if self.proc.poll() is not None and action not in ("worker_stopped",):
                break
            time.sleep(0.05)
        raise AssertionError(
            f"no {action} {match} in the worker log (exit code {self.proc.poll()}):\n"
            + self.log_tail()
        )

    def log_tail(self, lines: int = 40) -> str:
        """Return the end of the log."""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def signal(self, sig: int) -> None:
        """Send a signal to the worker."""
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        """Wait for the process to exit; return its exit code."""
        return self.proc.wait(timeout)


def worker_command(*paths: Path | str, dsn: str, extra: tuple[str, ...] = ()) -> list[str]:
    """Return the argv of a worker serving ``paths`` with fast housekeeping for tests."""
    return [
        sys.executable,
        "-m",
        "pgflow_yaml",
        "run-worker",
        *map(str, paths),
        "--dsn",
        dsn,
        "--apply",
        "--log-format",
        "json",
        "--heartbeat-interval",
        "0.5",
        "--requeue-interval",
        "0.5",
        *extra,
    ]


StartWorker = Callable[..., WorkerProcess]


@pytest.fixture
def record_file(tmp_path: Path) -> Path:
    """Return the file the test handlers append one line per execution to."""
    return tmp_path / "executions.txt"


@pytest.fixture
def start_worker(dsn: str, tmp_path: Path, record_file: Path) -> Iterator[StartWorker]:
    """Start worker subprocesses on the test database; stop them all afterwards."""
    started: list[WorkerProcess] = []

    def start(*paths: Path | str, extra: tuple[str, ...] = (), wait: bool = True) -> WorkerProcess:
        log_path = tmp_path / f"worker-{len(started)}.log"
        env = dict(os.environ, E2E_RECORD=str(record_file), PYTHONUNBUFFERED="1")
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                worker_command(*(paths or (FLOWS,)), dsn=dsn, extra=extra),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=tmp_path,
            )
        worker = WorkerProcess(proc, log_path)
        started.append(worker)
        if wait:
            worker.wait_for("worker_started")
        return worker

    yield start
    for worker in started:
        if worker.proc.poll() is None:
            worker.signal(signal.SIGTERM)
    for worker in started:
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.proc.kill()
            worker.wait(5)


@pytest.fixture
def client(dsn: str) -> Iterator[Client]:
    """Return a client on the test database."""
    with Client(dsn) as c:
        yield c


def executions(record_file: Path) -> list[tuple[str, str, int, int, str]]:
    """Return ``(run_id, step_slug, task_index, attempt, worker_id)`` for every execution."""
    if not record_file.exists():
        return []
    rows = []
    for line in record_file.read_text().splitlines():
        run_id, step, index, attempt, worker_id = line.split()
        rows.append((run_id, step, int(index), int(attempt), worker_id))
    return rows


def wait_until(check: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


from tests.compat.pgflow081 import pgflow081_dsn, pgflow081_template  # noqa: E402, F401
