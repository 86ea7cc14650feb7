"""Benchmark flow control in the claim: the price of a keyed limit, and fairness under a backlog.

    python bench/bench_flow_control.py              # a few minutes on 2 busy cores
    python bench/bench_flow_control.py --runs 1000 --rounds 2 --backlog 20000

1. Throughput: the 3-step chain (a → b → c), drained by ``--clients`` loops of ``claim_tasks``
   (10) + one ``complete_tasks``, with no flow control, then with step ``a`` under a keyed
   concurrency limit (``{limit: 2, key: run.k}``, 100 keys). Both are measured in the same
   process, alternating, ``--rounds`` times each; the report gives the median tasks/s of each
   and their ratio (target >= 0.8), and the median server CPU per task of each (the drain's
   backends, read from ``/proc/<pid>/stat``: a local server only, else left out).
2. Fairness: ``--backlog`` ready tasks of one key, then 10 of another, under a keyed limit that
   the big key never fills (1,000): how many claims of 10 pass before the lone key's first task
   is claimed (target <= 2), and the claim's latency with that backlog. The same count for a flow
   without flow control shows what message order alone would do.
Results also go to ``bench/results/`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO), str(BENCH)]

from _pgbench import BenchError, scratch_database, server_url  # noqa: E402
from bench_core import drain as bench_core_drain  # noqa: E402
from bench_variants import drain  # noqa: E402

from pgflow_yaml import core  # noqa: E402

Conn = psycopg.Connection[Any]
KEYS = 100
TARGET_RATIO = 0.8
TARGET_CYCLES = 2


def _chain(conn: Conn, flow: str, limited: bool) -> None:
    conn.execute("select pgflow.create_flow(%s, timeout => 60)", (flow,))
    if limited:
        conn.execute(
            "select pgflow.add_step(%s, 'a', concurrency_limit => 2, concurrency_key => 'run.k')",
            (flow,),
        )
    else:
        conn.execute("select pgflow.add_step(%s, 'a')", (flow,))
    conn.execute("select pgflow.add_step(%s, 'b', array['a'])", (flow,))
    conn.execute("select pgflow.add_step(%s, 'c', array['b'])", (flow,))


def _start(conn: Conn, flow: str, inputs: list[Any]) -> None:
    for chunk in range(0, len(inputs), 1000):
        conn.execute(
            "select count(*) from pgflow.start_flows(%s, %s)",
            (flow, Jsonb(inputs[chunk : chunk + 1000])),
        )


def throughput(dsn: str, limited: bool, runs: int, clients: int) -> tuple[float, float | None]:
    """Drain ``runs`` runs of the chain (limited or not); return (tasks/s, server CPU ms/task).

    The CPU is the drain's server backends' (``/proc/<pid>/stat``, as bench_variants.py): None
    when the server's processes cannot be read (a remote server)."""
    flow = f"chain_{'limited' if limited else 'plain'}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        _chain(conn, flow, limited)
        _start(conn, flow, [{"k": i % KEYS} for i in range(runs)])
        conn.execute("vacuum analyze")
    try:
        seconds, cpu = drain(dsn, flow, "batch", runs * 3, clients)
        cpu_ms: float | None = cpu / (runs * 3) * 1000
    except BenchError:
        seconds, cpu_ms = bench_core_drain(dsn, flow, "batch", runs * 3, clients), None
    with psycopg.connect(dsn, autocommit=True) as conn:
        left = conn.execute(
            "select count(*) from pgflow.runs where flow_slug = %s and status <> 'completed'",
            (flow,),
        ).fetchone()
    assert left is not None and left[0] == 0, f"{left} runs of {flow} did not complete"
    return runs * 3 / seconds, cpu_ms


def fairness(dsn: str, backlog: int, limited: bool) -> tuple[int, float]:
    """Return (claims before the lone key's first task, median claim ms with the backlog)."""
    flow = f"fair_{'limited' if limited else 'plain'}_{uuid.uuid4().hex[:6]}"
    worker = uuid.uuid4()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select pgflow.create_flow(%s, timeout => 60)", (flow,))
        if limited:
            conn.execute(
                "select pgflow.add_step(%s, 'a', concurrency_limit => 1000,"
                " concurrency_key => 'run.k')",
                (flow,),
            )
        else:
            conn.execute("select pgflow.add_step(%s, 'a')", (flow,))
        _start(conn, flow, [{"k": "big"}] * backlog)
        _start(conn, flow, [{"k": "lone"}] * 10)
        conn.execute("vacuum analyze")
        cycles, times = 0, []
        while cycles < 10_000:
            began = time.perf_counter()
            rows = conn.execute(
                "select input from pgflow.claim_tasks(array[%s], %s, 10, 60)", (flow, worker)
            ).fetchall()
            times.append((time.perf_counter() - began) * 1000)
            cycles += 1
            if any(row[0]["run"]["k"] == "lone" for row in rows) or not rows:
                break
        return cycles, statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Run both measurements; print the report; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", help="server to use (a scratch database is created there)")
    parser.add_argument("--runs", type=int, default=1500, help="runs per throughput drain")
    parser.add_argument("--rounds", type=int, default=3, help="drains of each flow")
    parser.add_argument("--clients", type=int, default=4, help="worker loops (connections)")
    parser.add_argument("--backlog", type=int, default=50_000, help="tasks of the big key")
    args = parser.parse_args(argv)

    with scratch_database(server_url(args.dsn), "flow_control") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            core.install(conn)
        plain: list[float] = []
        limited: list[float] = []
        plain_cpu: list[float] = []
        limited_cpu: list[float] = []
        for _ in range(args.rounds):  # alternating, so load changes hit both alike
            for flag, rates, cpus in ((False, plain, plain_cpu), (True, limited, limited_cpu)):
                rate, cpu_ms = throughput(dsn, flag, args.runs, args.clients)
                rates.append(rate)
                if cpu_ms is not None:
                    cpus.append(cpu_ms)
        ratio = statistics.median(limited) / statistics.median(plain)
        fair_cycles, fair_ms = fairness(dsn, args.backlog, limited=True)
        order_cycles, order_ms = fairness(dsn, args.backlog, limited=False)

    print(
        f"chain3, {args.clients} clients, claim 10 + complete_tasks, {args.runs} runs x "
        f"{args.rounds} rounds"
    )
    print(f"  no flow control:            {statistics.median(plain):8.0f} tasks/s  {plain}")
    print(f"  keyed limit (2 x {KEYS} keys): {statistics.median(limited):8.0f} tasks/s  {limited}")
    print(f"  ratio {ratio:.2f} (target >= {TARGET_RATIO})")
    if plain_cpu and limited_cpu:
        cpu_ratio = statistics.median(limited_cpu) / statistics.median(plain_cpu)
        print(
            f"  server CPU per task: {statistics.median(plain_cpu):.3f} ms without, "
            f"{statistics.median(limited_cpu):.3f} ms with the keyed limit (x{cpu_ratio:.2f})"
        )
    print(f"fairness: {args.backlog} ready tasks of one key, then 10 of another")
    print(
        f"  keyed limit: lone key's first task claimed in claim {fair_cycles} "
        f"(target <= {TARGET_CYCLES}); claim of 10 takes {fair_ms:.1f} ms"
    )
    print(
        f"  no flow control (message order): claim {order_cycles}; claim of 10 takes "
        f"{order_ms:.1f} ms"
    )
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    (results / f"flow_control_{int(time.time())}.json").write_text(
        json.dumps(
            {
                "plain_tasks_per_s": plain,
                "limited_tasks_per_s": limited,
                "plain_cpu_ms_per_task": plain_cpu,
                "limited_cpu_ms_per_task": limited_cpu,
                "ratio": ratio,
                "fairness_claims": fair_cycles,
                "fairness_claim_ms": fair_ms,
                "message_order_claims": order_cycles,
                "message_order_claim_ms": order_ms,
                "backlog": args.backlog,
            },
            indent=2,
        )
    )
    return 0 if ratio >= TARGET_RATIO and fair_cycles <= TARGET_CYCLES else 1


if __name__ == "__main__":
    sys.exit(main())
