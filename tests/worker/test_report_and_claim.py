"""An idle worker reports a lone result and claims the next step in one call (real PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import psycopg

from pgflow_yaml.client import Client
from pgflow_yaml.worker.service import WorkerThread, make_worker, prepare

FLOW = """slug: handing
steps:
  - {slug: a, handler: "handing_steps:first"}
  - {slug: b, handler: "handing_steps:second", depends_on: [a]}
  - {slug: c, handler: "handing_steps:third", depends_on: [b]}
"""

STEPS = """
def first(input):
    return input["run"]["n"] + 1

def second(input):
    return input["a"] * 10

def third(input):
    return {"total": input["b"] + input["run"]["n"]}
"""


def _serve_chains(dsn: str, folder: Path, runs: int) -> tuple[list[object], dict[str, int]]:
    """Run ``runs`` chains one at a time on an idle worker; return their outputs and the calls
    of ``complete_tasks`` and ``complete_and_claim`` in the worker's sessions (nested calls
    counted too: ``track_functions``, set on the test's database before the worker connects)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        dbname = conn.info.dbname
        conn.execute(f'alter database "{dbname}" set track_functions = pl')
    (folder / "handing.yaml").write_text(FLOW)
    (folder / "handing_steps.py").write_text(STEPS)
    flows, handlers = prepare([folder / "handing.yaml"], dsn, apply=True)
    # no poll: a claim of the poll out at a report's moment would send it apart (not idle)
    thread = WorkerThread(make_worker(dsn, handlers, flows, grace_period=2, poll_interval=60))
    thread.start()
    try:
        with Client(dsn) as client:
            outputs = [
                client.wait(client.start("handing", {"n": n}), timeout=60).output
                for n in range(runs)
            ]
    finally:
        thread.stop(timeout=10)
    assert thread.error is None
    with psycopg.connect(dsn) as conn:  # the worker's sessions ended: their counts are flushed
        calls = dict(
            conn.execute(
                "select funcname, calls from pg_stat_user_functions where schemaname = 'pgflow'"
                " and funcname in ('complete_tasks', 'complete_and_claim')"
            ).fetchall()
        )
    return outputs, calls


def test_an_idle_worker_hands_off_with_one_call(dsn: str, tmp_path: Path) -> None:
    outputs, calls = _serve_chains(dsn, tmp_path, 3)
    assert outputs == [{"c": {"total": (n + 1) * 10 + n}} for n in range(3)]
    # every report of this idle worker was a lone result: sent with complete_and_claim (which
    # calls complete_tasks once), 3 steps of 3 runs
    assert calls.get("complete_and_claim") == calls.get("complete_tasks") == 9, calls


def test_a_core_without_complete_and_claim_is_served_with_separate_calls(
    dsn: str, tmp_path: Path
) -> None:
    # an older pgflow-yaml core (before complete_and_claim): the worker reports and claims as
    # before, without a refused call per report
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("drop function pgflow.complete_and_claim(jsonb, text[], uuid, int, int)")
    outputs, calls = _serve_chains(dsn, tmp_path, 2)
    assert outputs == [{"c": {"total": (n + 1) * 10 + n}} for n in range(2)]
    assert calls == {"complete_tasks": 6}, calls
