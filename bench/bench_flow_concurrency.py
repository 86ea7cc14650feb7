"""Benchmark flow concurrency: the cost of slot accounting against the same flow without a limit.

    python bench/bench_flow_concurrency.py [--runs 2000] [--clients 4] [--rounds 2]

Each measurement defines a 3-step chain (a → b → c), starts ``--runs`` runs with
``start_flows`` (timed: a limited flow queues and admits its runs there), then ``--clients``
worker loops (``claim_tasks`` of 10 + one ``complete_tasks``, as ``bench_core.py``'s ``batch``
protocol) drain them (timed: every run that ends releases its slot and admits the next). Four
variants, measured in turn in the same process, ``--rounds`` times:

- ``none``: no limit (the baseline: what every flow without ``concurrency`` pays);
- ``roomy``: ``concurrency: <runs>``: nothing ever queues, but every start and every run end
  takes its slot lock and counts;
- ``keyed``: ``{limit: 5, key: k}`` over 100 key values: at most 500 runs in progress, the
  others queued and admitted one by one as runs end;
- ``tight``: ``concurrency: 20``: at most 20 runs (60 tasks) in progress, so the workers' claim
  batches are often less than full; slower by design, shown for scale.

Reported per variant: runs/s of the start, tasks/s of the drain, and each ÷ the ``none`` figure
of the same round (the ratio to compare between runs). Results also go to ``bench/results/``.
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

from _pgbench import scratch_database, server_url  # noqa: E402
from bench_core import drain  # noqa: E402

from pgflow_yaml import core  # noqa: E402

VARIANTS: dict[str, str] = {
    # variant: create_flow arguments of its limit
    "none": "",
    "roomy": ", concurrency_limit => {runs}",
    "keyed": ", concurrency_limit => 5, concurrency_key => 'k'",
    "tight": ", concurrency_limit => 20",
}


def measure(dsn: str, variant: str, runs: int, clients: int) -> dict[str, Any]:
    """Start ``runs`` runs of a fresh flow with the variant's limit, drain them; return figures."""
    flow = f"fc_{variant}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        limit = VARIANTS[variant].format(runs=runs)
        conn.execute(f"select pgflow.create_flow('{flow}', timeout => 60{limit})")  # bench-owned
        conn.execute(f"select pgflow.add_step('{flow}', 'a')")
        conn.execute(f"select pgflow.add_step('{flow}', 'b', array['a'])")
        conn.execute(f"select pgflow.add_step('{flow}', 'c', array['b'])")
        conn.execute("vacuum analyze")
        inputs = [{"k": n % 100, "n": n} for n in range(runs)]
        begin = time.perf_counter()
        for chunk in range(0, runs, 500):
            conn.execute(
                "select count(*) from pgflow.start_flows(%s, %s)",
                (flow, Jsonb(inputs[chunk : chunk + 500])),
            )
        start_seconds = time.perf_counter() - begin
    drain_seconds = drain(dsn, flow, "batch", runs * 3, clients)
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "select count(*) from pgflow.runs where flow_slug = %s and status <> 'completed'",
            (flow,),
        ).fetchone()
    if row and row[0]:
        raise SystemExit(f"{row[0]} runs of {flow} did not complete")
    return {
        "variant": variant,
        "runs": runs,
        "start_runs_per_s": runs / start_seconds,
        "drain_tasks_per_s": runs * 3 / drain_seconds,
    }


def main(argv: list[str] | None = None) -> int:
    """Measure every variant ``--rounds`` times; print the ratios to ``none``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn")
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    results: list[dict[str, Any]] = []
    with scratch_database(server_url(args.dsn), "flow_concurrency") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            core.install(conn)
        for round_ in range(args.rounds):
            base: dict[str, Any] | None = None
            for variant in VARIANTS:
                figure = measure(dsn, variant, args.runs, args.clients)
                base = base or figure
                figure["round"] = round_
                figure["start_ratio"] = figure["start_runs_per_s"] / base["start_runs_per_s"]
                figure["drain_ratio"] = figure["drain_tasks_per_s"] / base["drain_tasks_per_s"]
                results.append(figure)
                print(
                    f"round {round_} {variant:>5}: start {figure['start_runs_per_s']:7.0f} runs/s"
                    f" ({figure['start_ratio']:.2f} × none), drain"
                    f" {figure['drain_tasks_per_s']:6.0f} tasks/s"
                    f" ({figure['drain_ratio']:.2f} × none)",
                    flush=True,
                )
    print("median ratio to none (start, drain):")
    for variant in VARIANTS:
        mine = [r for r in results if r["variant"] == variant]
        start = statistics.median(r["start_ratio"] for r in mine)
        drained = statistics.median(r["drain_ratio"] for r in mine)
        print(f"  {variant:>5}: {start:.2f}, {drained:.2f}")
    out = BENCH / "results" / f"flow_concurrency_{int(time.time())}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
