"""An ``async def`` handler that blocks the event loop is named in one log line per step."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from pgflow_yaml.client import Client

from .conftest import StartWorker

FLOW = """\
slug: blocking
timeout: 30
steps:
  - slug: nap
    handler: blocking_steps:nap
    map: $input
  - slug: polite
    handler: blocking_steps:polite
    depends_on: [nap]
"""

HANDLERS = '''\
import asyncio
import time


async def nap(seconds):
    """Block the event loop: the mistake the watchdog reports."""
    time.sleep(seconds)
    return seconds


async def polite(input):
    """Await instead: never reported."""
    await asyncio.sleep(0.01)
    return sum(input["nap"])
'''


def test_a_blocking_async_handler_is_reported_once_naming_its_step(
    start_worker: StartWorker, client: Client, tmp_path: Path
) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "blocking.yaml").write_text(FLOW)
    (flows / "blocking_steps.py").write_text(textwrap.dedent(HANDLERS))
    worker = start_worker(flows)
    for _ in range(2):  # six blocking tasks in two runs
        run = client.wait(client.start("blocking", [1.0, 1.0, 1.0]), 60)
        assert run.status == "completed"
        assert run.output == {"polite": 3.0}
    [blocked] = [e for e in worker.events("loop_blocked") if e.get("step_slug") is not None]
    assert blocked["flow_slug"] == "blocking"
    assert blocked["step_slug"] == "nap"
    assert blocked["level"] == "warning"
    assert re.fullmatch(
        r"the event loop was blocked for \d+\.\d s by step 'nap'; use a sync handler or await",
        blocked["message"],
    )
    assert blocked["message"] == (
        f"the event loop was blocked for {blocked['seconds']:.1f} s by step 'nap';"
        " use a sync handler or await"
    )
