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


def _serve_chains(dsn: str, folder: Path, runs: int) -> tuple[list[object], list[str]]:
    """Run ``runs`` chains one at a time on an idle worker; return their outputs and the last
    statement of each of the worker's report connections."""
    (folder / "handing.yaml").write_text(FLOW)
    (folder / "handing_steps.py").write_text(STEPS)
    flows, handlers = prepare([folder / "handing.yaml"], dsn, apply=True)
    thread = WorkerThread(make_worker(dsn, handlers, flows, grace_period=2))
    thread.start()
    try:
        with Client(dsn) as client:
            outputs = [
                client.wait(client.start("handing", {"n": n}), timeout=60).output
                for n in range(runs)
            ]
        with psycopg.connect(dsn) as conn:
            last = [
                row[0]
                for row in conn.execute(
                    "select query from pg_stat_activity where datname = current_database()"
                    " and application_name like 'pgflow-worker:report-%'"
                )
            ]
    finally:
        thread.stop(timeout=10)
    assert thread.error is None
    return outputs, last


def test_an_idle_worker_hands_off_with_one_call(dsn: str, tmp_path: Path) -> None:
    outputs, last = _serve_chains(dsn, tmp_path, 3)
    assert outputs == [{"c": {"total": (n + 1) * 10 + n}} for n in range(3)]
    # every report of this idle worker was a lone result: sent with complete_and_claim
    assert last and all("complete_and_claim" in query for query in last), last


def test_a_core_without_complete_and_claim_is_served_with_separate_calls(
    dsn: str, tmp_path: Path
) -> None:
    # an older pgflow-yaml core (before complete_and_claim): the worker reports and claims as
    # before, without a refused call per report
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("drop function pgflow.complete_and_claim(jsonb, text[], uuid, int, int)")
    outputs, last = _serve_chains(dsn, tmp_path, 2)
    assert outputs == [{"c": {"total": (n + 1) * 10 + n}} for n in range(2)]
    assert last and not any("complete_and_claim" in query for query in last), last
