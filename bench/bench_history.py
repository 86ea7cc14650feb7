"""Benchmark the SQL core against a large history of finished runs, and pgflow prune under load.

    python bench/bench_history.py                 # 1,000,000 finished runs (~5-10 min)
    python bench/bench_history.py --long          # 10,000,000 (or PGFLOW_BENCH_LONG=1)
    python bench/bench_history.py --runs 100000   # any size (bench/report.py --quick uses this)

Three parts, each a figure next to a baseline of the same run:

1. **claim + complete cost vs history size.** Two scratch databases with the same 3-step chain
   flow (a -> b -> c): one with an empty history, one filled with ``--runs`` finished runs of
   that flow, with their step states, tasks and archived pgmq messages, written directly by
   set-based INSERTs (``generate_series``; rows consistent by construction: every run
   completed, three completed steps, three completed tasks, one archived message per task
   whose msg_id the task names). Samples of ``--sample`` tasks alternate between the two
   databases (empty, full, empty, full, ...) with ``--clients`` connections running the
   ``batch`` protocol of ``bench_core.py``; the medians are compared.
   **Target: full ÷ empty ≥ 1 / 1.2 (cost at most 1.2 × an empty history).**
2. **prune under load.** In the full database, ``--clients`` worker loops drain a topped-up
   stream of runs and record the latency of every ``claim_tasks`` call: first for
   ``--prune-window`` seconds without a prune, then while ``Client.prune`` (``pgflow prune``)
   deletes the oldest ``--prune-fraction`` of the history in batches of ``--batch-size``. The
   worst and p99 claim latency of both windows are compared, with the prune's runs/s.
3. **size per 10,000 finished runs**: ``pg_total_relation_size`` of the pgflow tables and the
   flow's pgmq tables, empty, full, after the prune, and after ``vacuum`` (space a later insert
   reuses; the files only shrink with ``vacuum full``).

Results are printed and written to ``bench/results/bench_history_<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import threading
import time
import uuid
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO), str(BENCH)]

from _pgbench import BenchError, scratch_database, server_url  # noqa: E402
from bench_core import define, drain  # noqa: E402

from pgflow_yaml import core  # noqa: E402
from pgflow_yaml.client import Client  # noqa: E402

TARGET_HISTORY = 1 / 1.2  # throughput with the history ÷ without: cost at most 1.2 ×
FLOW = "history_chain3"
STEPS = ("a", "b", "c")
HISTORY_SPAN = timedelta(days=60)  # finished runs spread over 60 days ...
HISTORY_END = timedelta(days=2)  # ... the newest of them ended 2 days ago
CHUNK = 100_000  # runs per INSERT statement

_FILL = """
with src as materialized (
  select g.i, ts,
         encode(overlay(uuid_send(gen_random_uuid())
                        placing substring(int8send((extract(epoch from ts) * 1000)::bigint) from 3)
                        from 1 for 6), 'hex')::uuid as run_id
  from generate_series({lo}::bigint, {hi}::bigint) as g(i)
  cross join lateral (select ({t0}) + ({step}) * g.i as ts) t
),
steps as (select * from (values ('a', 0), ('b', 1), ('c', 2)) as v(slug, k)),
runs as (
  insert into pgflow.runs (run_id, flow_slug, status, input, output, remaining_steps,
                           started_at, completed_at)
  select run_id, {flow}, 'completed', '{{}}'::jsonb, '{{"c": 1}}'::jsonb, 0,
         ts, ts + interval '30 ms'
  from src
),
states as (
  insert into pgflow.step_states (flow_slug, run_id, step_slug, status, remaining_tasks,
                                  initial_tasks, remaining_deps, output, created_at,
                                  started_at, completed_at)
  select {flow}, run_id, slug, 'completed', 0, 1, 0, '1'::jsonb, ts,
         ts + interval '10 ms' * k, ts + interval '10 ms' * k + interval '5 ms'
  from src cross join steps
),
tasks as (
  insert into pgflow.step_tasks (flow_slug, run_id, step_slug, message_id, task_index, status,
                                 attempts_count, output, queued_at, started_at, completed_at)
  select {flow}, run_id, slug, {msg_base} + i * 3 + k + 1, 0, 'completed', 1, '1'::jsonb,
         ts + interval '10 ms' * k, ts + interval '10 ms' * k + interval '1 ms',
         ts + interval '10 ms' * k + interval '5 ms'
  from src cross join steps
),
archived as (
  insert into pgmq.{archive} (msg_id, read_ct, enqueued_at, last_read_at, archived_at, vt,
                              message)
  select {msg_base} + i * 3 + k + 1, 1, ts + interval '10 ms' * k, ts + interval '10 ms' * k,
         ts + interval '10 ms' * k + interval '5 ms', ts + interval '10 ms' * k + interval '60 s',
         jsonb_build_object('flow_slug', {flow}, 'run_id', run_id, 'step_slug', slug,
                            'task_index', 0)
  from src cross join steps
)
select count(*) from src
"""

SIZE_SQL = """
select coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind = 'r'
  and (n.nspname = 'pgflow' or (n.nspname = 'pgmq' and c.relname in (%s, %s)))
"""


def install(dsn: str) -> None:
    """Install the core and create the chain flow."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        core.install(conn)
        define(conn, "chain3", FLOW)


def fill_history(
    dsn: str, runs: int, *, first: int = 0, span_runs: int | None = None, progress: bool = True
) -> float:
    """Write ``runs`` finished runs of FLOW (with states, tasks, archived messages); return seconds.

    Runs are spread evenly over HISTORY_SPAN, ending HISTORY_END ago, as runs ``first`` to
    ``first + runs - 1`` of ``span_runs`` (default ``runs``): filling 0-99,999 then
    100,000-999,999 of 1,000,000 gives the same history as one fill. Their messages take ids
    past the queue's msg_id sequence, which is then moved past them. Foreign-key triggers are
    skipped (``session_replication_role = replica``): the rows are consistent by construction.
    """
    span_runs = span_runs or runs
    t0 = time.perf_counter()
    start = f"now() - interval '{int((HISTORY_SPAN + HISTORY_END).total_seconds())} s'"
    step = f"interval '{HISTORY_SPAN.total_seconds() / max(span_runs, 1):.6f} s'"
    sequence = sql.Literal(f"pgmq.q_{FLOW}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("set session_replication_role = replica")
        conn.execute("set synchronous_commit = off")
        row = conn.execute(
            sql.SQL("select coalesce(max(msg_id), 0) from pgmq.{}").format(
                sql.Identifier(f"a_{FLOW}")
            )
        ).fetchone()
        seq = conn.execute(
            sql.SQL("select nextval(pg_get_serial_sequence({}, 'msg_id'))").format(sequence)
        ).fetchone()
        base = max(row[0] if row else 0, seq[0] if seq else 0)
        for lo in range(first, first + runs, CHUNK):
            hi = min(first + runs, lo + CHUNK) - 1
            statement = sql.SQL(_FILL).format(
                lo=sql.Literal(lo),
                hi=sql.Literal(hi),
                t0=sql.SQL(start),
                step=sql.SQL(step),
                msg_base=sql.Literal(base - first * 3),
                flow=sql.Literal(FLOW),
                archive=sql.Identifier(f"a_{FLOW}"),
            )
            conn.execute(statement)
            if progress:
                print(f"    {hi + 1:>11,} runs ({time.perf_counter() - t0:.0f} s)", flush=True)
        conn.execute(
            sql.SQL("select setval(pg_get_serial_sequence({}, 'msg_id'), {})").format(
                sequence, sql.Literal(base + runs * 3 + 1)
            )
        )
        conn.execute("vacuum analyze")
        # write the fill's dirty pages out now: otherwise the checkpoint it triggers writes
        # gigabytes during the first samples (measured: ratio 0.44-0.69 right after a fill of
        # 1,000,000 runs, 0.89-1.03 once written out)
        try:
            conn.execute("checkpoint")
        except psycopg.errors.InsufficientPrivilege:
            time.sleep(5)
    return time.perf_counter() - t0


def relation_bytes(dsn: str) -> int:
    """Return the bytes of every pgflow table and the flow's pgmq tables (with indexes, TOAST)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(SIZE_SQL, (f"q_{FLOW}", f"a_{FLOW}")).fetchone()
    return int(row[0]) if row else 0


def finished_runs(dsn: str) -> int:
    """Return the number of finished runs in the database."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("select count(*) from pgflow.runs where status <> 'started'").fetchone()
    return int(row[0]) if row else 0


def seed(conn: psycopg.Connection[Any], runs: int) -> None:
    """Start ``runs`` runs of FLOW with one set-based start_flows call (not timed)."""
    conn.execute(
        "select count(*) from pgflow.start_flows(%s,"
        " (select jsonb_agg('{}'::jsonb) from generate_series(1, %s)))",
        (FLOW, runs),
    )


def warm_up(dsn: str, clients: int, rounds: int = 2) -> None:
    """Run ``rounds`` untimed samples of 1,500 tasks.

    A database freshly bulk-filled has never seen live work (empty free-space and right-end
    index pages, no plans cached); a history that grew by itself has. Both databases are
    warmed up alike before the measured samples.
    """
    for _ in range(rounds):
        sample(dsn, 1500, clients)


def sample(dsn: str, tasks: int, clients: int) -> float:
    """Seed runs for ``tasks`` tasks (untimed), drain them with the batch protocol; tasks/s."""
    runs = max(1, tasks // len(STEPS))
    with psycopg.connect(dsn, autocommit=True) as conn:
        seed(conn, runs)
    return runs * len(STEPS) / drain(dsn, FLOW, "batch", runs * len(STEPS), clients)


# --- prune under load ---------------------------------------------------------------------------


class Workload:
    """Worker loops claiming and completing FLOW's tasks, recording every claim's latency.

    A producer keeps about 3,000 tasks queued, so the loops never run dry.
    """

    def __init__(self, dsn: str, clients: int) -> None:
        """Prepare ``clients`` loops against ``dsn``; nothing runs before ``start``."""
        self.dsn, self.clients = dsn, clients
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.latencies: list[tuple[float, float]] = []  # (time, seconds) of every claim call
        self.completed = 0
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []

    def _produce(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                row = conn.execute(
                    "select count(*) from pgflow.step_tasks"
                    " where flow_slug = %s and status = 'queued'",
                    (FLOW,),
                ).fetchone()
                if row and row[0] < 3000:
                    seed(conn, 500)
                self.stop.wait(0.2)

    def _loop(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            worker_id = uuid.uuid4()
            conn.execute(
                "insert into pgflow.workers (queue_name, worker_id, function_name)"
                " values (%s, %s, 'bench_history')",
                (FLOW, worker_id),
            )
            while not self.stop.is_set():
                t0 = time.perf_counter()
                tasks = conn.execute(
                    "select run_id, step_slug, task_index, attempt"
                    " from pgflow.claim_tasks(array[%s], %s, 10, 60)",
                    (FLOW, worker_id),
                ).fetchall()
                took = time.perf_counter() - t0
                with self.lock:
                    self.latencies.append((t0, took))
                if not tasks:
                    time.sleep(0.005)
                    continue
                results = [
                    {
                        "run_id": str(t[0]),
                        "step_slug": t[1],
                        "task_index": t[2],
                        "attempt": t[3],
                        "output": 1,
                    }
                    for t in tasks
                ]
                conn.execute(
                    "select count(*) from pgflow.complete_tasks(%s)",
                    (psycopg.types.json.Jsonb(results),),
                )
                with self.lock:
                    self.completed += len(tasks)

    def _guard(self, target: Any) -> None:
        try:
            target()
        except BaseException as exc:
            self.errors.append(exc)
            self.stop.set()

    def start(self) -> None:
        """Queue 3,000 runs, then start the producer and the loops."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            seed(conn, 3000)
        for target in [self._produce] + [self._loop] * self.clients:
            thread = threading.Thread(target=self._guard, args=(target,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def window(self, since: float, until: float) -> dict[str, Any]:
        """Return the claim latencies and throughput between two ``perf_counter`` times."""
        with self.lock:
            picked = sorted(took for at, took in self.latencies if since <= at < until)
        if not picked:
            return {"claims": 0}
        p99 = picked[min(len(picked) - 1, int(len(picked) * 0.99))]
        return {
            "claims": len(picked),
            "claims_per_s": len(picked) / (until - since),
            "p50_ms": statistics.median(picked) * 1000,
            "p99_ms": p99 * 1000,
            "max_ms": picked[-1] * 1000,
        }

    def close(self) -> None:
        """Stop everything; raise the first error a thread met."""
        self.stop.set()
        for thread in self.threads:
            thread.join()
        if self.errors:
            raise self.errors[0]


def prune_under_load(dsn: str, history_runs: int, args: argparse.Namespace) -> dict[str, Any]:
    """Measure claim latency without a prune, then during one; return both windows."""
    # the oldest fraction of the history, by end time (history is spread evenly over its span)
    keep = HISTORY_SPAN * (1 - args.prune_fraction) + HISTORY_END
    older_than = f"{int(keep.total_seconds())} seconds"
    workload = Workload(dsn, args.clients)
    workload.start()
    try:
        time.sleep(2)  # warm up: connections, plans, the first top-up
        quiet_from = time.perf_counter()
        time.sleep(args.prune_window)
        quiet_to = time.perf_counter()
        batches: list[float] = []
        with Client(dsn) as client:
            t0 = time.perf_counter()
            result = client.prune(
                older_than,
                batch_size=args.batch_size,
                on_batch=lambda *_: batches.append(time.perf_counter()),
            )
            pruned_at = time.perf_counter()
        time.sleep(1)
    finally:
        workload.close()
    gaps = [b - a for a, b in zip([t0, *batches], batches, strict=False)]
    quiet = workload.window(quiet_from, quiet_to)
    during = workload.window(t0, pruned_at)
    return {
        "older_than": older_than,
        "batch_size": args.batch_size,
        "runs_deleted": result.runs_deleted,
        "history_runs": history_runs,
        "batches": result.batches,
        "seconds": pruned_at - t0,
        "runs_per_s": result.runs_deleted / (pruned_at - t0),
        "batch_max_ms": max(gaps) * 1000 if gaps else 0.0,
        "without_prune": quiet,
        "during_prune": during,
    }


# --- the report ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the three parts; return the figures."""
    url = server_url(args.dsn)
    report: dict[str, Any] = {"args": vars(args)}
    with ExitStack() as stack:
        empty = stack.enter_context(scratch_database(url, "history_empty"))
        full = stack.enter_context(scratch_database(url, "history_full"))
        install(empty)
        install(full)
        size_empty = relation_bytes(full)
        print(f"filling {args.runs:,} finished runs (3 steps, 3 tasks, 3 archived messages each)")
        filled = fill_history(full, args.runs)
        size_full = relation_bytes(full)
        print(f"  filled in {filled:.0f} s; pgflow + pgmq tables {size_full / 2**20:,.0f} MiB")
        report["fill_seconds"] = filled

        print(
            f"\nclaim + complete, empty vs {args.runs:,} runs of history"
            f" ({args.rounds} alternating samples of {args.sample:,} tasks,"
            f" {args.clients} clients) ...",
            flush=True,
        )
        report["history"] = {"runs": args.runs, **compare(empty, full, args, f"{args.runs:,} runs")}
        if args.no_prune:
            report["sizes"] = _sizes(args.runs, size_empty, size_full, None, None)
            return report

        print(
            f"\nprune under load: {args.clients} worker loops, {args.prune_window} s without a"
            f" prune, then during a prune of the oldest {args.prune_fraction:.0%} of the history"
            f" in batches of {args.batch_size:,} ...",
            flush=True,
        )
        pruned = prune_under_load(full, args.runs, args)
        q, d = pruned["without_prune"], pruned["during_prune"]
        print(
            f"  pruned {pruned['runs_deleted']:,} runs in {pruned['seconds']:.1f} s"
            f" ({pruned['runs_per_s']:,.0f} runs/s, {pruned['batches']} batches,"
            f" slowest batch {pruned['batch_max_ms']:.0f} ms)"
        )
        for label, w in (("without prune", q), ("during prune ", d)):
            if w.get("claims"):
                print(
                    f"  claim latency {label}: p50 {w['p50_ms']:6.1f} ms  p99 {w['p99_ms']:6.1f}"
                    f" ms  max {w['max_ms']:6.1f} ms  ({w['claims_per_s']:,.0f} claims/s)"
                )
        report["prune"] = pruned
        size_after = relation_bytes(full)
        with psycopg.connect(full, autocommit=True) as conn:
            conn.execute("vacuum")
        size_vacuumed = relation_bytes(full)
        report["sizes"] = _sizes(
            args.runs,
            size_empty,
            size_full,
            size_after,
            size_vacuumed,
            after_runs=finished_runs(full),
        )
        s = report["sizes"]
        print(
            f"\nclaim + complete after the prune and vacuum (freed space is reused by new rows),"
            f" empty vs {s['finished_runs_after_prune']:,} runs ...",
            flush=True,
        )
        report["after_prune"] = {
            "runs": s["finished_runs_after_prune"],
            **compare(empty, full, args, "after prune"),
        }
        print(
            f"\nsize of the pgflow + pgmq tables: empty {size_empty / 2**20:.1f} MiB, with"
            f" {args.runs:,} finished runs {size_full / 2**20:,.0f} MiB"
            f" ({s['bytes_per_10k_runs'] / 2**20:.1f} MiB per 10,000 runs); after the prune"
            f" {size_after / 2**20:,.0f} MiB, after vacuum {size_vacuumed / 2**20:,.0f} MiB"
            f" ({s['bytes_per_10k_runs_after_prune'] / 2**20:.1f} MiB per 10,000 of the"
            f" {s['finished_runs_after_prune']:,} finished runs left)"
            f" (the files keep their size; vacuum makes the space reusable)"
        )
    return report


def compare(empty: str, full: str, args: argparse.Namespace, label: str) -> dict[str, Any]:
    """Warm both databases up, alternate ``args.rounds`` samples; return and print the medians."""
    warm_up(empty, args.clients)
    warm_up(full, args.clients)
    empty_tps: list[float] = []
    full_tps: list[float] = []
    for _ in range(args.rounds):
        empty_tps.append(sample(empty, args.sample, args.clients))
        full_tps.append(sample(full, args.sample, args.clients))
    e, f = statistics.median(empty_tps), statistics.median(full_tps)
    ratio = f / e
    verdict = "ok" if ratio >= TARGET_HISTORY else "below"
    print(f"  empty history : {e:8,.0f} tasks/s (median of {_spread(empty_tps)})")
    print(f"  {label:>15}: {f:8,.0f} tasks/s (median of {_spread(full_tps)})")
    print(
        f"  ratio {ratio:.2f} (cost {1 / ratio:.2f} × empty)  target ≥ {TARGET_HISTORY:.2f}"
        f"  {verdict}",
        flush=True,
    )
    return {
        "empty_samples": empty_tps,
        "full_samples": full_tps,
        "empty_tps": e,
        "full_tps": f,
        "ratio": ratio,
    }


def _sizes(
    runs: int,
    empty: int,
    full: int,
    after: int | None,
    vacuumed: int | None,
    after_runs: int | None = None,
) -> dict[str, Any]:
    return {
        "finished_runs": runs,
        "bytes_empty": empty,
        "bytes_full": full,
        "bytes_per_10k_runs": (full - empty) / max(runs, 1) * 10_000,
        "bytes_after_prune": after,
        "bytes_after_vacuum": vacuumed,
        "finished_runs_after_prune": after_runs,
        "bytes_per_10k_runs_after_prune": (
            (vacuumed - empty) / after_runs * 10_000 if vacuumed and after_runs else None
        ),
    }


def _spread(figures: list[float]) -> str:
    return f"{len(figures)}, {min(figures):,.0f}-{max(figures):,.0f}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    long = os.environ.get("PGFLOW_BENCH_LONG", "") not in ("", "0")
    parser = argparse.ArgumentParser(description="Benchmark the core against a large history.")
    parser.add_argument("--dsn", help="server to benchmark (a maintenance database URL)")
    parser.add_argument(
        "--long",
        action="store_true",
        default=long,
        help="10,000,000 runs of history (also PGFLOW_BENCH_LONG=1)",
    )
    parser.add_argument("--runs", type=int, help="finished runs of history (1,000,000)")
    parser.add_argument("--clients", type=int, default=4, help="worker connections (4)")
    parser.add_argument("--sample", type=int, default=3000, help="tasks per sample (3000)")
    parser.add_argument("--rounds", type=int, default=5, help="samples per database (5)")
    parser.add_argument("--batch-size", type=int, default=1000, help="prune batch (1000)")
    parser.add_argument(
        "--prune-fraction", type=float, default=0.1, help="oldest share of history pruned (0.1)"
    )
    parser.add_argument(
        "--prune-window", type=int, default=15, help="seconds of load without prune (15)"
    )
    parser.add_argument("--no-prune", action="store_true", help="skip the prune part")
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = 10_000_000 if args.long else 1_000_000
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the report and write its JSON."""
    args = parse_args(argv)
    report = run(args)
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    path = out / f"bench_history_{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nresults: {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still drop the scratch databases
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
