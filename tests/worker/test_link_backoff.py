"""A worker connection backs off across failures and gives up at once when the worker stops."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest

from pgflow_yaml.worker.errors import DatabaseUnavailable
from pgflow_yaml.worker.store import Link


def _refused_dsn() -> str:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/postgres?connect_timeout=2"


def test_backoff_grows_and_a_stop_interrupts_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="pgflow_yaml.worker")

    async def main() -> float:
        stopped = asyncio.Event()
        link = Link(_refused_dsn(), "test", stopped)
        asyncio.get_running_loop().call_later(1.2, stopped.set)
        with pytest.raises(DatabaseUnavailable):
            await link.connection()
        stop_at = time.monotonic()
        with pytest.raises(DatabaseUnavailable):  # stopping: one attempt, no waiting
            await link.connection()
        return time.monotonic() - stop_at

    started = time.monotonic()
    after_stop = asyncio.run(main())
    assert time.monotonic() - started < 2.5
    assert after_stop < 1.0
    attempts = [r.__dict__["attempt"] for r in caplog.records if r.__dict__.get("link") == "test"]
    assert attempts == list(range(1, len(attempts) + 1))
    assert 3 <= len(attempts) <= 8  # 0.1 + 0.2 + 0.4 + ... s of backoff in 1.2 s
