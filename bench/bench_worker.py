"""Benchmark the real worker (``pgflow run-worker`` subprocesses, no-op handlers).

Four figures, each next to a baseline measured in the same run:

1. throughput: tasks/s of a 3-step chain, against pgbench TPC-B TPS (target ratio >= 1.0);
2. hand-off latency on an idle worker, from the end of step ``a``'s handler to the start of
   step ``b``'s, next to a LISTEN/NOTIFY round trip (targets: p50 <= 10 x, p95 <= 20 x the
   round trip's p50);
3. ``Client.start_many``: runs/s from one client (>= 1,500), next to pgbench TPS;
4. the worker's resident memory at concurrency 10 after the throughput load (< 100 MB), next
   to a bare Python process that imports the same driver;
5. idle cost: the transactions per second an idle worker sends (every worker call is one
   autocommit transaction, so this is its queries/s; target < 2) and the CPU its server
   backends use, over ``--idle-seconds``.

``--durable-commits`` runs the workers with ``--durable-commits`` (``synchronous_commit`` on,
as pgbench and pgflow commit) instead of the worker's default (off).

    python bench/bench_worker.py [--dsn URL] [--runs 2000] [--pgbench-seconds 10] [--json]
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

import psycopg
from psycopg.conninfo import conninfo_to_dict

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pgbench import pgbench_tps, scratch_database, server_url

from pgflow_yaml import core
from pgflow_yaml.client import Client

Conn = psycopg.Connection[Any]

HANDLERS = """
import time

def noop(input):
    return 1

def stamp(input):
    return {"t": time.time()}

def measure(input):
    return time.time() - input["a"]["t"]
"""

FLOWS = {
    "bench_chain.yaml": """slug: bench_chain
steps:
  - {slug: a, handler: "bench_steps:noop"}
  - {slug: b, handler: "bench_steps:noop", depends_on: [a]}
  - {slug: c, handler: "bench_steps:noop", depends_on: [b]}
""",
    "bench_handoff.yaml": """slug: bench_handoff
steps:
  - {slug: a, handler: "bench_steps:stamp"}
  - {slug: b, handler: "bench_steps:measure", depends_on: [a]}
""",
}


def write_flows(folder: Path) -> Path:
    """Write the benchmark flows and their no-op handlers into ``folder``."""
    (folder / "bench_steps.py").write_text(HANDLERS)
    for name, text in FLOWS.items():
        (folder / name).write_text(text)
    return folder


def start_worker(folder: Path, dsn: str, *extra: str) -> subprocess.Popen[bytes]:
    """Start ``pgflow run-worker`` on the flows of ``folder``; wait until it serves."""
    log = folder / f"worker-{time.monotonic_ns()}.log"
    out = log.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pgflow_yaml",
            "run-worker",
            str(folder),
            "--dsn",
            dsn,
            "--apply",
            "--log-format",
            "json",
            "--log-level",
            "warning",
            *extra,
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=folder,
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            row = conn.execute(
                "select count(*) from pgflow.workers where stopped_at is null"
            ).fetchone()
            if row and row[0] > 0:
                return proc
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    raise SystemExit(f"the worker did not start:\n{log.read_text()[-2000:]}")


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    """Stop a worker with SIGTERM."""
    proc.terminate()
    proc.wait(30)


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Return a process's resident memory in MB (``VmHWM``: its peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_all(dsn: str, flow: str, expected: int, timeout: float = 600) -> None:
    """Wait until ``expected`` runs of ``flow`` completed."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = conn.execute(
                "select count(*) from pgflow.runs where flow_slug = %s and status = 'completed'",
                (flow,),
            ).fetchone()
            if row and row[0] >= expected:
                return
            time.sleep(0.02)
    raise SystemExit(f"only part of the {expected} runs of {flow} completed in {timeout}s")


def throughput(dsn: str, folder: Path, runs: int, concurrency: int, *extra: str) -> dict[str, Any]:
    """Start ``runs`` chains at once, time the worker draining them; return tasks/s and RSS."""
    proc = start_worker(
        folder, dsn, "--concurrency", str(concurrency), "--flow", "bench_chain", *extra
    )
    try:
        with Client(dsn) as client:
            client.start_many("bench_chain", [{"warm": i} for i in range(20)])
            wait_all(dsn, "bench_chain", 20)
            started = time.perf_counter()
            for chunk in range(0, runs, 500):
                client.start_many(
                    "bench_chain", [{"i": i} for i in range(chunk, min(runs, chunk + 500))]
                )
            wait_all(dsn, "bench_chain", runs + 20)
            seconds = time.perf_counter() - started
        return {
            "tasks_per_s": 3 * runs / seconds,
            "rss_mb": rss_mb(proc.pid),
            "peak_rss_mb": rss_mb(proc.pid, "VmHWM"),
        }
    finally:
        stop_worker(proc)


def handoff(dsn: str, folder: Path, samples: int, *extra: str) -> list[float]:
    """Run ``samples`` two-step runs one at a time; return the hand-off of each, in ms."""
    proc = start_worker(folder, dsn, "--flow", "bench_handoff", *extra)
    try:
        with Client(dsn) as client:
            values = []
            for i in range(samples + 5):
                run = client.wait(client.start("bench_handoff", {"i": i}), 30)
                if i >= 5:  # warm-up: prepared statements, plpgsql caches
                    values.append(run.output["b"] * 1000)
                time.sleep(0.01)
            return values
    finally:
        stop_worker(proc)


def notify_round_trip(dsn: str, samples: int) -> list[float]:
    """Return LISTEN/NOTIFY round trips in ms (the floor of any push wake-up)."""
    with (
        psycopg.connect(dsn, autocommit=True) as listener,
        psycopg.connect(dsn, autocommit=True) as sender,
    ):
        listener.execute("listen bench_wake")
        values = []
        for _ in range(samples):
            started = time.perf_counter()
            sender.execute("notify bench_wake")
            next(listener.notifies(timeout=5, stop_after=1))
            values.append((time.perf_counter() - started) * 1000)
        return values


def _statements(conn: Conn, dbname: str) -> int | None:
    """Return the top-level statements run so far in ``dbname`` per pg_stat_statements (None
    when the server does not load it or the maintenance database lacks the extension)."""
    try:
        with conn.transaction():
            row = conn.execute(
                "select coalesce(sum(s.calls), 0)::bigint from pg_stat_statements s"
                " join pg_database d on d.oid = s.dbid where d.datname = %s and s.toplevel",
                (dbname,),
            ).fetchone()
    except psycopg.Error:
        return None
    return row[0] if row else None


def _database_activity(url: str, dbname: str) -> tuple[int, int | None, float | None]:
    """Return (transactions, top-level statements, CPU seconds of its current backends) of
    database ``dbname`` so far.

    Statements come from pg_stat_statements when available (None otherwise); the CPU figure
    reads ``/proc`` (None when the server is not on this machine).
    """
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select pg_stat_clear_snapshot()")
        statements = _statements(conn, dbname)
        row = conn.execute(
            "select xact_commit + xact_rollback from pg_stat_database where datname = %s",
            (dbname,),
        ).fetchone()
        pids = [
            r[0]
            for r in conn.execute(
                "select pid from pg_stat_activity where datname = %s", (dbname,)
            ).fetchall()
        ]
    cpu = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return (row[0] if row else 0), statements, None
        cpu += (int(fields[11]) + int(fields[12])) / tick
    return (row[0] if row else 0), statements, cpu


def idle_cost(url: str, folder: Path, seconds: float, *extra: str) -> dict[str, Any]:
    """Start a worker on both flows with nothing to do; return its transactions/s and DB CPU.

    Counts the top-level statements of a fresh scratch database (only the worker uses it) over
    ``seconds``, after a settling pause, from pg_stat_statements when the server loads it; else
    its transactions (every worker call is one), which also counts autovacuum's, an upper
    bound. PostgreSQL publishes an idle backend's counters within about a second.
    """
    with scratch_database(url, "idle") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            core.install(conn)
        return _idle_cost(url, dsn, folder, seconds, *extra)


def _idle_cost(url: str, dsn: str, folder: Path, seconds: float, *extra: str) -> dict[str, Any]:
    dbname = conninfo_to_dict(dsn)["dbname"]
    proc = start_worker(folder, dsn, *extra)
    try:
        time.sleep(3)
        xacts0, stmts0, cpu0 = _database_activity(url, dbname)
        started = time.perf_counter()
        time.sleep(seconds)
        xacts1, stmts1, cpu1 = _database_activity(url, dbname)
        elapsed = time.perf_counter() - started
    finally:
        stop_worker(proc)
    exact = stmts0 is not None and stmts1 is not None
    return {
        "idle_queries_per_s": ((stmts1 or 0) - (stmts0 or 0) if exact else xacts1 - xacts0)
        / elapsed,
        "idle_queries_source": "pg_stat_statements" if exact else "pg_stat_database",
        "idle_transactions_per_s": (xacts1 - xacts0) / elapsed,
        "idle_db_cpu_percent": None
        if cpu0 is None or cpu1 is None
        else (cpu1 - cpu0) / elapsed * 100,
    }


def start_many_rate(dsn: str, runs: int) -> float:
    """Return runs/s of ``start_many`` in batches of 500 from one client (no worker running)."""
    with Client(dsn) as client:
        client.start_many("bench_chain", [{"warm": i} for i in range(100)])
        started = time.perf_counter()
        for chunk in range(0, runs, 500):
            client.start_many(
                "bench_chain", [{"i": i} for i in range(chunk, min(runs, chunk + 500))]
            )
        return runs / (time.perf_counter() - started)


def bare_python_rss() -> float:
    """Return the RSS of a Python process that imported psycopg and asyncio."""
    code = "import asyncio, pathlib, psycopg; print(pathlib.Path('/proc/self/status').read_text())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    """Return the q-th percentile (0-100) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    """Run the four measurements and print them with their baselines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn")
    parser.add_argument("--runs", type=int, default=2000, help="chains for the throughput figure")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--handoffs", type=int, default=200)
    parser.add_argument("--start-many", type=int, default=5000)
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    parser.add_argument("--idle-seconds", type=float, default=30, help="idle cost window (30)")
    parser.add_argument(
        "--durable-commits",
        action="store_true",
        help="run the workers with --durable-commits (synchronous_commit on)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    extra = ("--durable-commits",) if args.durable_commits else ()

    url = server_url(args.dsn)
    tps = pgbench_tps(url, seconds=args.pgbench_seconds).tps
    results: dict[str, Any] = {"pgbench_tps": tps, "durable_commits": args.durable_commits}
    with (
        tempfile.TemporaryDirectory(prefix="pgflow-bench-") as tmp,
        scratch_database(url, "worker") as dsn,
    ):
        folder = write_flows(Path(tmp))
        with psycopg.connect(dsn, autocommit=True) as conn:
            core.install(conn)
        load = throughput(dsn, folder, args.runs, args.concurrency, *extra)
        results["chain_tasks_per_s"] = load["tasks_per_s"]
        results["chain_vs_pgbench"] = load["tasks_per_s"] / tps
        results["worker_rss_mb"] = load["rss_mb"]
        results["worker_peak_rss_mb"] = load["peak_rss_mb"]
        results["bare_python_rss_mb"] = bare_python_rss()
        handoffs = handoff(dsn, folder, args.handoffs, *extra)
        notify = notify_round_trip(dsn, args.handoffs)
        results["handoff_p50_ms"] = statistics.median(handoffs)
        results["handoff_p95_ms"] = percentile(handoffs, 95)
        results["notify_round_trip_p50_ms"] = statistics.median(notify)
        results["notify_round_trip_p95_ms"] = percentile(notify, 95)
        results["handoff_p50_vs_notify"] = (
            results["handoff_p50_ms"] / results["notify_round_trip_p50_ms"]
        )
        results["handoff_p95_vs_notify"] = (
            results["handoff_p95_ms"] / results["notify_round_trip_p50_ms"]
        )
        if args.idle_seconds > 0:
            results |= idle_cost(url, folder, args.idle_seconds, *extra)
        results["start_many_runs_per_s"] = start_many_rate(dsn, args.start_many)
        results["start_many_vs_pgbench"] = results["start_many_runs_per_s"] / tps
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    r = results
    mode = "durable commits" if args.durable_commits else "default commits (synchronous_commit off)"
    print(f"workers: {mode}")
    print(f"pgbench TPC-B (4 clients, {args.pgbench_seconds}s): {tps:,.0f} TPS")
    print(
        f"throughput, 3-step chain x {args.runs} runs, concurrency {args.concurrency}: "
        f"{r['chain_tasks_per_s']:,.0f} tasks/s = {r['chain_vs_pgbench']:.2f} x pgbench "
        "(target >= 1.0, issue 16)"
    )
    print(
        f"hand-off a -> b on an idle worker ({args.handoffs} runs): "
        f"p50 {r['handoff_p50_ms']:.1f} ms, p95 {r['handoff_p95_ms']:.1f} ms; "
        f"LISTEN/NOTIFY round trip p50 {r['notify_round_trip_p50_ms']:.2f} ms, "
        f"p95 {r['notify_round_trip_p95_ms']:.2f} ms: hand-off = "
        f"{r['handoff_p50_vs_notify']:.1f} x / {r['handoff_p95_vs_notify']:.1f} x the round "
        "trip's p50 (targets 10 x / 20 x)"
    )
    print(
        f"start_many ({args.start_many} runs, batches of 500): "
        f"{r['start_many_runs_per_s']:,.0f} runs/s = {r['start_many_vs_pgbench']:.2f} x pgbench "
        "(target >= 1,500 runs/s)"
    )
    print(
        f"worker memory at concurrency {args.concurrency}: RSS {r['worker_rss_mb']:.0f} MB, "
        f"peak {r['worker_peak_rss_mb']:.0f} MB (target < 100); bare python+psycopg "
        f"{r['bare_python_rss_mb']:.0f} MB"
    )
    if "idle_queries_per_s" in r:
        cpu = r["idle_db_cpu_percent"]
        print(
            f"idle worker ({args.idle_seconds:.0f} s): {r['idle_queries_per_s']:.2f} queries/s "
            f"(target < 2; from {r['idle_queries_source']}; "
            f"{r['idle_transactions_per_s']:.2f} transactions/s); database CPU "
            + ("unknown (server not on this machine)" if cpu is None else f"{cpu:.2f} % of a core")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
