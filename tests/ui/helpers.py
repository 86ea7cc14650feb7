"""Runs in every state for the dashboard tests, driven through the core's SQL protocol.

The tests play the worker themselves (claim_tasks, complete_tasks, fail_tasks), so each run is
exactly in the state a test needs: completed, failed with a traceback, running, cancelled.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from pgflow_yaml.validate import load_flows
from pgflow_yaml.worker.startup import install_flow

FLOW_FILE = Path(__file__).resolve().parent / "demo_flow.yaml"
APPROVAL_FILE = Path(__file__).resolve().parent / "approval_flow.yaml"  # a signal step, a schedule
XSS = "<script>window.__pwned = 1</script> bad value"


class Driver:
    """Starts runs and plays one worker's part in them."""

    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True, row_factory=dict_row)
        self.worker_id = str(uuid.uuid4())
        self.flow = load_flows([FLOW_FILE])[0]
        install_flow(self.conn, self.flow)  # type: ignore[arg-type]
        self.conn.execute(
            "select pgflow.register_worker(%s::uuid, 'ui_demo', 'tests.ui')", [self.worker_id]
        )

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def start(self, n: int = 2) -> str:
        """Start a run of ui_demo; return its id."""
        row = self.conn.execute(
            "select run_id from pgflow.start_flow('ui_demo', %s)", [Jsonb({"n": n})]
        ).fetchone()
        assert row is not None
        return str(row["run_id"])

    def install_approval(self) -> None:
        """Install ui_approval (a signal step ``approve`` after ``draft``, schedule ``nightly``)."""
        install_flow(self.conn, load_flows([APPROVAL_FILE])[0])  # type: ignore[arg-type]

    def waiting_run(self) -> str:
        """Return the id of a ui_approval run whose step ``approve`` waits for its signal."""
        row = self.conn.execute(
            "select run_id from pgflow.start_flow('ui_approval', %s)", [Jsonb({"title": "t"})]
        ).fetchone()
        assert row is not None
        run_id = str(row["run_id"])
        self.finish_step(run_id, "draft", {"text": "a draft"}, flow="ui_approval")
        return run_id

    def step_status(self, run_id: str, step: str) -> str:
        """Return the status of one step of a run."""
        row = self.conn.execute(
            "select status from pgflow.step_states where run_id = %s::uuid and step_slug = %s",
            [run_id, step],
        ).fetchone()
        assert row is not None
        return str(row["status"])

    def claim(self, step: str, run_id: str, flow: str = "ui_demo") -> list[dict[str, Any]]:
        """Claim every visible task of ``flow`` and return those of ``step`` in ``run_id``.

        Tasks of other runs or steps that get claimed are released again.
        """
        rows = self.conn.execute(
            "select * from pgflow.claim_tasks(array[%s], %s::uuid, 100, 30)",
            [flow, self.worker_id],
        ).fetchall()
        mine = [r for r in rows if str(r["run_id"]) == run_id and r["step_slug"] == step]
        others = [r for r in rows if r not in mine]
        if others:
            self.conn.execute("select pgflow.release_tasks(%s::uuid)", [self.worker_id])
            raise AssertionError(f"claimed tasks of other runs: {others}")
        return mine

    def complete(self, task: dict[str, Any], output: Any) -> None:
        """Report one task's output."""
        item = {k: str(task[k]) if k == "run_id" else task[k] for k in _KEYS}
        self.conn.execute("select pgflow.complete_tasks(%s)", [Jsonb([item | {"output": output}])])

    def fail(self, task: dict[str, Any], message: str, traceback: str) -> None:
        """Report one task's failure, not retryable."""
        item = {k: str(task[k]) if k == "run_id" else task[k] for k in _KEYS}
        failure = item | {
            "error_message": message,
            "error_type": "ValueError",
            "error_traceback": traceback,
            "retryable": False,
        }
        self.conn.execute("select pgflow.fail_tasks(%s)", [Jsonb([failure])])

    def finish_step(self, run_id: str, step: str, output: Any, flow: str = "ui_demo") -> None:
        """Complete every task of ``step`` in ``run_id`` with ``output``."""
        tasks = self.claim(step, run_id, flow)
        assert tasks, f"no task of {step} to claim"
        for task in tasks:
            self.complete(task, output)

    def completed_run(self) -> str:
        """Return the id of a run that completed (fetch, two split tasks, report)."""
        run_id = self.start()
        self.finish_step(run_id, "fetch", [1, 2])
        self.finish_step(run_id, "split", {"ok": True})
        self.finish_step(run_id, "report", {"total": 3})
        return run_id

    def failed_run(self, message: str = XSS) -> str:
        """Return the id of a run whose split task 1 failed with a traceback."""
        run_id = self.start()
        self.finish_step(run_id, "fetch", [1, 2])
        first, second = sorted(self.claim("split", run_id), key=lambda t: t["task_index"])
        self.complete(first, {"ok": True})
        trace = 'Traceback (most recent call last):\n  File "ui_steps.py", line 9, in split\n'
        self.fail(second, message, trace + f"ValueError: {message}")
        return run_id

    def running_run(self) -> str:
        """Return the id of a run whose fetch completed and whose split tasks are queued."""
        run_id = self.start()
        self.finish_step(run_id, "fetch", [1, 2])
        return run_id

    def cancelled_run(self) -> str:
        """Return the id of a run cancelled while fetch was queued."""
        run_id = self.start()
        self.conn.execute("select pgflow.cancel_run(%s::uuid)", [run_id])
        return run_id

    def status(self, run_id: str) -> str:
        """Return a run's status."""
        row = self.conn.execute(
            "select status from pgflow.runs where run_id = %s::uuid", [run_id]
        ).fetchone()
        assert row is not None
        return str(row["status"])


_KEYS = ("run_id", "step_slug", "task_index", "attempt", "start_seq")


def dumps(value: Any) -> str:
    """Return ``value`` as compact JSON."""
    return json.dumps(value, separators=(",", ":"))
