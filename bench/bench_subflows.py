"""Benchmark sub-flow steps against starting and running the same child runs directly.

    .venv/bin/python bench/bench_subflows.py [--children 500] [--rounds 3] [--dsn URL]

In one scratch database, the child flow ``leaf`` (one step) runs ``--children`` times two ways:

- direct (the baseline): ``start_flows('leaf', <N inputs>)``, then the tasks drained with
  ``claim_tasks`` (10 at a time) and one ``complete_tasks`` per claim, as the worker does;
- as children: ``start_flow('parent', <array of N>)``, where ``parent`` is a root map step with
  ``flow: leaf``, so the core starts N child runs; then the same drain, each child's completion
  also completing its parent task (and the last one the parent run).

Prints the best round of each phase (start, drain) and the ratio children ÷ direct: the cost
the parent adds per child run (its task row, the child's parent columns, the settle on
completion). The ratio is the figure to compare between runs; absolute times are indicative.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pgbench import scratch_database, server_url

from pgflow_yaml import core

WORKER = uuid.UUID("00000000-0000-0000-0000-00000000b0b0")
Conn = psycopg.Connection[Any]


def _define(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('leaf')")
    conn.execute("select pgflow.add_step('leaf', 'work')")
    conn.execute("select pgflow.create_flow('parent')")
    conn.execute(
        "select pgflow.add_step('parent', 'each', step_type => 'map', child_flow_slug => 'leaf')"
    )
    conn.execute(
        "insert into pgflow.workers (worker_id, queue_name, function_name)"
        " values (%s, 'leaf', 'bench')",
        (WORKER,),
    )


def _drain(conn: Conn, expected: int) -> float:
    began = time.perf_counter()
    done = 0
    while done < expected:
        rows = conn.execute(
            "select run_id, step_slug, task_index, start_seq, attempt"
            " from pgflow.claim_tasks(array['leaf'], %s, 10, 30)",
            (WORKER,),
        ).fetchall()
        if not rows:
            continue
        results = [
            {
                "run_id": str(r[0]),
                "step_slug": r[1],
                "task_index": r[2],
                "start_seq": r[3],
                "attempt": r[4],
                "output": {"ok": True},
            }
            for r in rows
        ]
        conn.execute(
            "select count(*) from pgflow.complete_tasks(%s::jsonb)", (json.dumps(results),)
        )
        done += len(rows)
    return time.perf_counter() - began


def _round(conn: Conn, children: int) -> dict[str, float]:
    inputs = json.dumps([{"n": n} for n in range(children)])
    began = time.perf_counter()
    conn.execute("select count(*) from pgflow.start_flows('leaf', %s::jsonb)", (inputs,))
    direct_start = time.perf_counter() - began
    direct_drain = _drain(conn, children)

    began = time.perf_counter()
    (run_id,) = conn.execute(
        "select run_id from pgflow.start_flow('parent', %s::jsonb)", (inputs,)
    ).fetchone() or (None,)
    child_start = time.perf_counter() - began
    child_drain = _drain(conn, children)
    (status,) = conn.execute(
        "select status from pgflow.runs where run_id = %s", (run_id,)
    ).fetchone() or (None,)
    assert status == "completed", status
    return {
        "direct_start": direct_start,
        "direct_drain": direct_drain,
        "child_start": child_start,
        "child_drain": child_drain,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dsn")
    args = parser.parse_args(argv)
    with (
        scratch_database(server_url(args.dsn), "subflows") as dsn,
        psycopg.connect(dsn, autocommit=True) as conn,
    ):
        core.install(conn)
        _define(conn)
        rounds = [_round(conn, args.children) for _ in range(args.rounds)]
    best = {key: min(r[key] for r in rounds) for key in rounds[0]}
    n = args.children
    print(f"{n} child runs, best of {args.rounds} rounds")
    for phase in ("start", "drain"):
        direct, child = best[f"direct_{phase}"], best[f"child_{phase}"]
        print(
            f"  {phase:5}  direct {direct * 1000:8.1f} ms ({n / direct:7.0f} runs/s)"
            f"   as children {child * 1000:8.1f} ms ({n / child:7.0f} runs/s)"
            f"   ratio {child / direct:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
