"""A/B variants of the worker (and core) in alternating rounds, each run in its own subprocess.

Each run starts a ``WorkerThread`` on a fresh scratch database, drains ``--runs`` 3-step chains
(``bench_worker``'s flows, concurrency 10), then runs ``--handoffs`` two-step runs one at a time.
It reports tasks/s, the CPU per task of the worker's server backends (``/proc``: the server must
run on this machine) and of the worker process, and the hand-off p50 / p95 (ms). Rounds
alternate the order of the variants; medians and ranges are printed at the end.

A variant is ``NAME:SPEC``, SPEC a comma-separated list of ``key=value``: ``tree=PATH`` runs
the package found at PATH (``PYTHONPATH``, e.g. ``git archive`` of main's ``pgflow_yaml sql
schemas`` unpacked there: its worker and its core), ``sql=FILE`` runs FILE over the installed
core, anything else is a ``WorkerOptions`` field (a JSON value)::

    git -C ../main archive --prefix=main/ HEAD pgflow_yaml sql schemas | tar -x -C /tmp/ab
    python bench/bench_worker_ab.py --rounds 3 main:tree=/tmp/ab/main this: two:claim_connections=2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(runs: int, handoffs: int, options: dict[str, Any], sql: list[str]) -> dict[str, float]:
    """Measure one variant in this process (the package on ``sys.path`` is the variant's)."""
    sys.path.insert(0, str(BENCH))
    import bench_worker as bw
    import psycopg
    from _pgbench import scratch_database, server_url

    from pgflow_yaml import core
    from pgflow_yaml.client import Client
    from pgflow_yaml.worker import service

    url = server_url(None)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, scratch_database(url, "ab") as dsn:
        folder = bw.write_flows(Path(tmp))
        sys.path.insert(0, tmp)
        with psycopg.connect(dsn, autocommit=True) as conn:
            core.install(conn)
            for path in sql:
                conn.execute(Path(path).read_text())
        dbname = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]

        def server_cpu() -> float:
            with psycopg.connect(url, autocommit=True) as conn:
                pids = [
                    row[0]
                    for row in conn.execute(
                        "select pid from pg_stat_activity where datname = %s"
                        " and application_name like 'pgflow-worker:%%'",
                        (dbname,),
                    )
                ]
            return sum(_cpu_seconds(pid) for pid in pids if Path(f"/proc/{pid}").exists())

        flows, handlers = service.prepare([folder], dsn, apply=True)
        thread = service.WorkerThread(service.make_worker(dsn, handlers, flows, **options))
        thread.start()
        try:
            with Client(dsn) as client:
                if runs:
                    client.start_many("bench_chain", [{"w": i} for i in range(20)])
                    bw.wait_all(dsn, "bench_chain", 20)
                    for chunk in range(0, runs, 500):
                        inputs = [{"i": i} for i in range(chunk, min(runs, chunk + 500))]
                        client.start_many("bench_chain", inputs)
                    server0, worker0 = server_cpu(), _cpu_seconds(os.getpid())
                    started = time.perf_counter()
                    bw.wait_all(dsn, "bench_chain", runs + 20)
                    seconds = time.perf_counter() - started
                    tasks = 3 * runs
                    out["tasks_per_s"] = tasks / seconds
                    out["server_cpu_ms_per_task"] = (server_cpu() - server0) / tasks * 1000
                    out["worker_cpu_ms_per_task"] = (
                        (_cpu_seconds(os.getpid()) - worker0) / tasks * 1000
                    )
                values = []
                for i in range(handoffs + 5):
                    run = client.wait(client.start("bench_handoff", {"i": i}), 30)
                    if i >= 5:  # warm-up
                        values.append(run.output["b"] * 1000)
                    time.sleep(0.01)
                if values:
                    out["handoff_p50_ms"] = statistics.median(values)
                    out["handoff_p95_ms"] = bw.percentile(values, 95)
        finally:
            thread.stop(30)
    return out


def _parse(variant: str) -> tuple[str, dict[str, str], dict[str, Any], list[str]]:
    name, _, spec = variant.partition(":")
    env, options, sql = dict(os.environ), {}, []
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        if key == "tree":
            env["PYTHONPATH"] = value
        elif key == "sql":
            sql.append(value)
        else:
            options[key] = json.loads(value)
    return name, env, options, sql


def main() -> int:
    """Alternate the variants round by round; print each run and the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--handoffs", type=int, default=40)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: one run, JSON spec
    args = parser.parse_args()
    if args.one:
        spec = json.loads(args.one)
        result = one_run(args.runs, args.handoffs, spec["options"], spec["sql"])
        print("RESULT " + json.dumps(result))
        return 0
    results: dict[str, list[dict[str, float]]] = {v: [] for v in args.variants}
    for r in range(args.rounds):
        for variant in args.variants if r % 2 == 0 else args.variants[::-1]:
            name, env, options, sql = _parse(variant)
            spec = json.dumps({"options": options, "sql": sql})
            command = [sys.executable, __file__, "--one", spec, "--runs", str(args.runs)]
            command += ["--handoffs", str(args.handoffs)]
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if not lines:
                print(f"round {r} {name}: failed\n{done.stderr[-2000:]}")
                continue
            figures = json.loads(lines[0][7:])
            results[variant].append(figures)
            shown = "  ".join(f"{k} {v:,.2f}" for k, v in figures.items())
            print(f"round {r} {name:12} {shown}", flush=True)
    print("medians (ranges):")
    for variant, runs in results.items():
        if not runs:
            continue
        shown = "  ".join(
            f"{k} {statistics.median(x[k] for x in runs):,.2f}"
            f" ({min(x[k] for x in runs):,.2f}-{max(x[k] for x in runs):,.2f})"
            for k in runs[0]
        )
        print(f"  {variant.partition(':')[0]:12} {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
