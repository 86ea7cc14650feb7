"""Handlers of the flow-control end-to-end flows (imported by real worker processes)."""

from __future__ import annotations

import random
import time
from typing import Any


def work(input: Any) -> Any:
    """Hold the task for a few milliseconds (so tasks overlap), then return a small value."""
    time.sleep(random.uniform(0.002, 0.02))
    return {"ok": True}


def hold(input: Any) -> Any:
    """Hold the task for a whole second (a slot a killed worker would keep)."""
    time.sleep(1)
    return {"ok": True}
