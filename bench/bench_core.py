"""Benchmark the SQL core with no-op work, against pgbench TPC-B of the same server.

    python bench/bench_core.py            # quick mode (a few minutes on 2 busy cores)
    python bench/bench_core.py --long     # claim cost with 1,000,000 queued tasks
    python bench/bench_core.py --dsn postgresql://postgres@127.0.0.1:5432/postgres

Each measurement starts N runs, then ``--clients`` worker loops (one connection each) drain
them: claim 10 tasks, complete each, repeat. Three protocols:

- ``batch``: ``claim_tasks(qty => 10)`` then one ``complete_tasks`` for the ten (2 commits / 10);
- ``single``: ``claim_tasks(qty => 10)`` then one ``complete_task`` per task;
- ``0.8.1``: ``pgmq.read_with_poll`` + ``start_tasks`` then one ``complete_task`` per task (the
  pgflow 0.8.1 worker's calls), on our core and, when npm can fetch it, on the real 0.8.1 core.

Shapes: a 3-step chain (a → b → c) and a root map over 10 elements. The report gives tasks/s and
tasks/s ÷ TPC-B TPS (target ≥ 0.5), then the claim cost against the backlog: tasks/s with a
small backlog vs a big one (target ≥ 0.8). Results also go to ``bench/results/`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO), str(BENCH)]

from _pgbench import BenchError, Pgbench, scratch_database, server_url  # noqa: E402

from pgflow_yaml import core  # noqa: E402

Conn = psycopg.Connection[Any]

SHAPES: dict[str, tuple[list[str], int]] = {
    # shape: (definition statements, tasks per run)
    "chain3": (
        [
            "select pgflow.create_flow('{flow}', timeout => 60)",
            "select pgflow.add_step('{flow}', 'a')",
            "select pgflow.add_step('{flow}', 'b', array['a'])",
            "select pgflow.add_step('{flow}', 'c', array['b'])",
        ],
        3,
    ),
    "map10": (
        [
            "select pgflow.create_flow('{flow}', timeout => 60)",
            "select pgflow.add_step('{flow}', 'each', step_type => 'map')",
        ],
        10,
    ),
}
MAP_INPUT = list(range(10))
TARGET_THROUGHPUT = 0.5  # tasks/s ÷ TPC-B TPS
TARGET_BACKLOG = 0.8  # tasks/s with the big backlog ÷ with the small one


@dataclass
class Measure:
    """One throughput measurement."""

    core: str
    protocol: str
    shape: str
    tasks: int
    seconds: float
    clients: int

    @property
    def tasks_per_s(self) -> float:
        """Return tasks completed per second."""
        return self.tasks / self.seconds if self.seconds else 0.0


# --- worker loops: each returns the number of tasks it completed in one iteration --------------


def _register(conn: Conn, flow: str) -> uuid.UUID:
    worker_id = uuid.uuid4()
    conn.execute(
        "insert into pgflow.workers (queue_name, worker_id, function_name) values (%s, %s, %s)",
        (flow, worker_id, "bench_core"),
    )
    return worker_id


def _claim(conn: Conn, flow: str, worker_id: uuid.UUID) -> list[Any]:
    return conn.execute(
        "select run_id, step_slug, task_index, attempt, input"
        " from pgflow.claim_tasks(array[%s], %s, 10, 60)",
        (flow, worker_id),
    ).fetchall()


def _output(task_input: Any) -> Any:
    return task_input if not isinstance(task_input, dict) else 1


def step_batch(conn: Conn, flow: str, worker_id: uuid.UUID) -> int:
    """Claim 10 with claim_tasks, complete them with one complete_tasks call."""
    tasks = _claim(conn, flow, worker_id)
    if not tasks:
        return 0
    results = [
        {
            "run_id": str(t[0]),
            "step_slug": t[1],
            "task_index": t[2],
            "attempt": t[3],
            "output": _output(t[4]),
        }
        for t in tasks
    ]
    conn.execute("select count(*) from pgflow.complete_tasks(%s)", (Jsonb(results),))
    return len(tasks)


def step_single(conn: Conn, flow: str, worker_id: uuid.UUID) -> int:
    """Claim 10 with claim_tasks, complete each with its own complete_task call."""
    tasks = _claim(conn, flow, worker_id)
    for run_id, step_slug, task_index, attempt, task_input in tasks:
        conn.execute(
            "select count(*) from pgflow.complete_task(%s, %s, %s, %s, %s)",
            (run_id, step_slug, task_index, Jsonb(_output(task_input)), attempt),
        )
    return len(tasks)


def step_081(conn: Conn, flow: str, worker_id: uuid.UUID) -> int:
    """Read 10 with read_with_poll, start_tasks, complete each: the pgflow 0.8.1 worker."""
    msgs = conn.execute(
        "select msg_id from pgmq.read_with_poll(%s, 60, 10, 1, 10)", (flow,)
    ).fetchall()
    if not msgs:
        return 0
    tasks = conn.execute(
        "select run_id, step_slug, task_index, input from pgflow.start_tasks(%s, %s, %s)",
        (flow, [m[0] for m in msgs], worker_id),
    ).fetchall()
    for run_id, step_slug, task_index, task_input in tasks:
        conn.execute(
            "select count(*) from pgflow.complete_task(%s, %s, %s, %s)",
            (run_id, step_slug, task_index, Jsonb(_output(task_input))),
        )
    return len(tasks)


PROTOCOLS: dict[str, Callable[[Conn, str, uuid.UUID], int]] = {
    "batch": step_batch,
    "single": step_single,
    "0.8.1": step_081,
}


def drain(dsn: str, flow: str, protocol: str, expected: int, clients: int) -> float:
    """Run ``clients`` worker loops until ``expected`` tasks are done; return the seconds taken."""
    step = PROTOCOLS[protocol]
    lock = threading.Lock()
    done = threading.Event()
    count = [0]
    finished_at = [0.0]
    errors: list[BaseException] = []
    ready = threading.Barrier(clients + 1)

    def loop() -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                worker_id = _register(conn, flow)
                ready.wait()
                while not done.is_set():
                    n = step(conn, flow, worker_id)
                    if n == 0:
                        time.sleep(0.002)
                        continue
                    with lock:
                        count[0] += n
                        if count[0] >= expected and not done.is_set():
                            finished_at[0] = time.perf_counter()
                            done.set()
        except BaseException as exc:
            errors.append(exc)
            done.set()

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    ready.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return finished_at[0] - started


def define(conn: Conn, shape: str, flow: str) -> int:
    """Create ``flow`` with the given shape; return its tasks per run."""
    statements, per_run = SHAPES[shape]
    for statement in statements:
        conn.execute(statement.format(flow=flow))  # bench-owned literals only
    return per_run


def seed(conn: Conn, flow: str, shape: str, runs: int) -> None:
    """Start ``runs`` runs of ``flow`` (not timed)."""
    run_input = MAP_INPUT if shape == "map10" else {"bench": True}
    conn.execute(
        "select count(*) from (select pgflow.start_flow(%s, %s) from generate_series(1, %s)) s",
        (flow, Jsonb(run_input), runs),
    )


def measure(
    dsn: str, core_name: str, protocol: str, shape: str, tasks: int, clients: int
) -> Measure:
    """Seed runs for about ``tasks`` tasks, drain them with ``protocol``; return the figure."""
    flow = f"{shape}_{protocol.replace('.', '')}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        per_run = define(conn, shape, flow)
        runs = max(1, tasks // per_run)
        seed(conn, flow, shape, runs)
        conn.execute("vacuum analyze")
    seconds = drain(dsn, flow, protocol, runs * per_run, clients)
    with psycopg.connect(dsn, autocommit=True) as conn:
        left = conn.execute(
            "select count(*) from pgflow.runs where flow_slug = %s and status <> 'completed'",
            (flow,),
        ).fetchone()
    if left and left[0]:
        raise BenchError(f"{left[0]} runs of {flow} did not complete")
    return Measure(core_name, protocol, shape, runs * per_run, seconds, clients)


# --- claim cost vs backlog ----------------------------------------------------------------------


BACKLOG_WIDTH = 10  # tasks per seeded run: each claim of 10 takes one whole run, as in real use


def _seed_backlog(conn: Conn, flow: str, tasks: int) -> None:
    runs = max(1, tasks // BACKLOG_WIDTH)
    for chunk in range(0, runs, 1000):  # one statement per 1,000 runs keeps transactions short
        # start_flows: set-based, about ten times faster per run than start_flow
        conn.execute(
            "select count(*) from pgflow.start_flows(%s,"
            " (select jsonb_agg(%s::jsonb) from generate_series(1, %s)))",
            (flow, Jsonb(list(range(BACKLOG_WIDTH))), min(1000, runs - chunk)),
        )


def backlog_flow(dsn: str, backlog: int) -> tuple[str, float]:
    """Create a flow with ``backlog`` queued tasks; return its slug and the seconds seeding took."""
    flow = f"backlog_{backlog}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        define(conn, "map10", flow)
        t0 = time.perf_counter()
        _seed_backlog(conn, flow, backlog)
        seeded = time.perf_counter() - t0
        conn.execute("vacuum analyze")
    return flow, seeded


def backlog_sample(dsn: str, flow: str, backlog: int, sample: int, clients: int) -> float:
    """Return tasks/s draining ``sample`` tasks from ``flow``, first topping it up to ``backlog``.

    The top-up (only needed when a sample drains a small backlog) is not timed.
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "select count(*) from pgflow.step_tasks where flow_slug = %s and status = 'queued'",
            (flow,),
        ).fetchone()
        queued = row[0] if row else 0
        if queued < backlog:
            _seed_backlog(conn, flow, backlog - queued)
            conn.execute("vacuum analyze")
    taken = min(sample, backlog)
    return taken / drain(dsn, flow, "batch", taken, clients)


# --- the report ------------------------------------------------------------------------------


@contextmanager
def reference_core(url: str) -> Iterator[str | None]:
    """Yield a database with the real pgflow 0.8.1 core, or None (saying why) when unavailable."""
    try:
        from tests.compat.pgflow081 import HarnessUnavailable, reference_database
    except ImportError as exc:
        print(f"  (pgflow 0.8.1 comparison skipped: {exc})")
        yield None
        return
    try:
        with reference_database(url) as ref:
            yield ref
    except HarnessUnavailable as exc:
        print(f"  (pgflow 0.8.1 comparison skipped: {exc})")
        yield None


def _line(m: Measure, tps: float) -> str:
    ratio = m.tasks_per_s / tps
    verdict = "ok" if ratio >= TARGET_THROUGHPUT else "below"
    return (
        f"{m.core:14}{m.protocol:9}{m.shape:8}{m.tasks_per_s:9,.0f}{tps:9,.0f}{ratio:9.2f}"
        f"  {verdict}"
    )


HEADER = f"{'core':14}{'protocol':9}{'shape':8}{'tasks/s':>9}{'TPC-B':>9}{'ratio':>9}  target 0.5"


def throughput(
    url: str, dsn: str, args: argparse.Namespace, bench: Pgbench
) -> list[tuple[Measure, float]]:
    """Measure every protocol and shape on our core (and on pgflow 0.8.1 when available).

    pgbench runs before the first measurement and after each one; a measurement's baseline is
    the mean of the TPC-B runs on either side of it, so load changes on a shared machine move
    both alike.
    """
    results: list[tuple[Measure, float]] = []
    last = bench.run(args.pgbench_seconds).tps
    print(f"  TPC-B {last:,.0f} TPS\n  {HEADER}", flush=True)

    def one(target: str, core_name: str, protocol: str, shape: str) -> None:
        nonlocal last
        m = measure(target, core_name, protocol, shape, args.tasks, args.clients)
        after = bench.run(args.pgbench_seconds).tps
        baseline, last = (last + after) / 2, after
        print("  " + _line(m, baseline), flush=True)
        results.append((m, baseline))

    for protocol in PROTOCOLS:
        for shape in SHAPES:
            one(dsn, "pgflow-yaml", protocol, shape)
    if not args.no_reference:
        with reference_core(url) as ref:
            for shape in SHAPES if ref else []:
                one(ref or "", "pgflow 0.8.1", "0.8.1", shape)
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the report."""
    parser = argparse.ArgumentParser(description="Benchmark the pgflow-yaml SQL core.")
    parser.add_argument("--dsn", help="server to benchmark (a maintenance database URL)")
    parser.add_argument("--long", action="store_true", help="backlog of 1,000,000 tasks")
    parser.add_argument("--clients", type=int, default=4, help="worker connections (4)")
    parser.add_argument("--tasks", type=int, default=3000, help="tasks per measurement (3000)")
    parser.add_argument("--pgbench-seconds", type=int, default=5, help="per pgbench run (5)")
    parser.add_argument("--no-reference", action="store_true", help="skip the pgflow 0.8.1 run")
    parser.add_argument("--only", choices=["throughput", "backlog"], help="run one part")
    args = parser.parse_args(argv)

    url = server_url(args.dsn)
    report: dict[str, Any] = {"args": vars(args), "throughput": [], "backlog": {}}
    with scratch_database(url, "core") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            core.install(conn)
        if args.only in (None, "throughput"):
            print(
                f"throughput, {args.clients} clients; pgbench TPC-B for {args.pgbench_seconds} s"
                " before the first measurement and after each ...",
                flush=True,
            )
            with Pgbench(url, clients=args.clients) as bench:
                results = throughput(url, dsn, args, bench)
            print(f"\n{HEADER}")
            for m, tps in results:
                print(_line(m, tps))
            report["throughput"] = [
                {
                    **asdict(m),
                    "tasks_per_s": m.tasks_per_s,
                    "tpcb_tps": tps,
                    "ratio": m.tasks_per_s / tps,
                }
                for m, tps in results
            ]
        if args.only in (None, "backlog"):
            report["backlog"] = backlog(dsn, args)

    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    path = out / f"bench_core_{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"\nresults: {path.relative_to(REPO)}")
    return 0


def backlog(dsn: str, args: argparse.Namespace) -> dict[str, Any]:
    """Compare claim + complete throughput with a small and a big backlog of queued tasks.

    Samples alternate between the two queues (small, big, small, big, ...) so that a change of
    load on a shared machine hits both alike; the medians are compared.
    """
    big = 1_000_000 if args.long else 200_000
    small, sample, rounds = 1_000, 1_000, 5
    print(
        f"\nclaim cost vs backlog (batch protocol, {rounds} alternating samples of {sample:,}"
        " tasks) ...",
        flush=True,
    )
    small_flow, _ = backlog_flow(dsn, small)
    big_flow, seeded = backlog_flow(dsn, big)
    print(f"  seeded {big:,} tasks in {seeded:.0f} s", flush=True)
    small_figures, big_figures = [], []
    for _ in range(rounds):
        small_figures.append(backlog_sample(dsn, small_flow, small, sample, args.clients))
        big_figures.append(backlog_sample(dsn, big_flow, big, sample, args.clients))
    small_tps, big_tps = statistics.median(small_figures), statistics.median(big_figures)
    ratio = big_tps / small_tps
    print(f"  backlog {small:>9,}: {small_tps:8,.0f} tasks/s (median; {_spread(small_figures)})")
    print(f"  backlog {big:>9,}: {big_tps:8,.0f} tasks/s (median; {_spread(big_figures)})")
    verdict = "ok" if ratio >= TARGET_BACKLOG else "below"
    print(f"  ratio {ratio:.2f}  target {TARGET_BACKLOG}  {verdict}")
    return {
        "small": small,
        "big": big,
        "small_samples": small_figures,
        "big_samples": big_figures,
        "small_tps": small_tps,
        "big_tps": big_tps,
        "ratio": ratio,
        "seed_seconds": seeded,
    }


def _spread(figures: list[float]) -> str:
    return f"samples {min(figures):,.0f}-{max(figures):,.0f}"


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still drop the scratch databases
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
