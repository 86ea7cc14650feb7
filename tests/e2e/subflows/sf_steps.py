"""Handlers of the sub-flow end-to-end flows (imported by real worker processes).

``work`` appends ``start`` and ``done`` lines (``<event> <n> <child run> <attempt> <pid>``) to
the file its input names, so a test counts every execution of every element, by process.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def _append(path: Path, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def items(input: dict[str, Any]) -> list[Any]:
    """Return the run input's items: one child run each."""
    return list(input["run"]["items"])


def work(input: dict[str, Any], ctx: Any) -> dict[str, int]:
    """Square ``n``; sleep ``sleep`` seconds (``sleep_first`` more on the first execution of
    this ``n``), wait for the file ``until``, and fail while fewer than ``fail_first``
    executions of this ``n`` came before, as the item says."""
    item = input["run"]
    log = Path(item["log"])
    n = item["n"]
    before = 0
    if log.exists():
        before = sum(1 for line in log.read_text().splitlines() if line.startswith(f"start {n} "))
    _append(log, f"start {n} {ctx.run_id} {ctx.attempt} {os.getpid()}\n")
    time.sleep(item.get("sleep", 0) + (item.get("sleep_first", 0) if before == 0 else 0))
    if "until" in item:
        while not Path(item["until"]).exists():
            time.sleep(0.05)
    if before < item.get("fail_first", 0):
        raise RuntimeError(f"item {n} fails on execution {before + 1}")
    _append(log, f"done {n} {ctx.run_id} {ctx.attempt} {os.getpid()}\n")
    return {"n": n, "squared": n * n}


def total(input: dict[str, Any]) -> dict[str, Any]:
    """Sum the squares and list the items in the order the map step collected them."""
    outputs = [child["work"] for child in input["each"]]
    return {"sum": sum(o["squared"] for o in outputs), "order": [o["n"] for o in outputs]}
