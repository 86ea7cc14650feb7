"""Compare variants of the SQL core on the server CPU they spend per task, alternating rounds.

    python bench/bench_variants.py                                   # this tree vs 0.2.0
    python bench/bench_variants.py --variant tree --variant 0.2.0 --variant tree+x.sql \\
        --shape chain3 --protocol batch --rounds 4

On a shared machine tasks/s moves with everybody else's load, so this benchmark reports, beside
tasks/s, the CPU time that the server backends of its worker loops used per task (read from
``/proc/<pid>/stat``, so the server must run on this machine and the benchmark may read its
processes' stats; root or the server's user). That figure hardly moves with the machine's
load: it is the one to bisect with. Each variant gets its own scratch database; the rounds
alternate the order of the variants, and the medians are compared with the first variant.

Protocols: those of ``bench_core`` and ``batch1`` (claim 10, then a one-item ``complete_tasks``
call per task: the worker's report of a lone task).

Variants: ``tree`` (the core of this checkout), ``0.2.0`` or any frozen release of
``tests/install/releases/``, and ``tree+FILE.sql`` (this core, then the SQL of FILE run over
it: a function redefined, a trigger dropped ...).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO), str(BENCH)]

import bench_core  # noqa: E402
from _pgbench import BenchError, scratch_database, server_url  # noqa: E402

from pgflow_yaml import core  # noqa: E402

RELEASES = REPO / "tests" / "install" / "releases"
TICK = os.sysconf("SC_CLK_TCK")


def install(conn: psycopg.Connection[Any], variant: str) -> None:
    """Install ``variant`` of the core into the (empty) database of ``conn``."""
    if variant == "tree":
        core.install(conn)
    elif variant.startswith("tree+"):
        core.install(conn)
        conn.execute(Path(variant[5:]).read_text())
    elif (RELEASES / f"{variant}.sql").exists():
        core.install_pgmq(conn)
        conn.execute((RELEASES / f"{variant}.sql").read_text())
    else:
        raise BenchError(f"unknown variant {variant!r} (tree, tree+FILE.sql or a release)")


def backend_cpu(pid: int) -> float:
    """Return the CPU seconds (user + system) that server backend ``pid`` used so far.

    From ``/proc/<pid>/schedstat`` (nanoseconds) where the kernel has it, else from
    ``/proc/<pid>/stat`` (clock ticks: 10 ms, coarse for short samples).
    """
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        pass
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError as exc:
        raise BenchError(f"cannot read the server's process {pid} ({exc}): run it locally") from exc
    return (int(fields[11]) + int(fields[12])) / TICK


def step_batch1(conn: psycopg.Connection[Any], flow: str, worker_id: uuid.UUID) -> int:
    """Claim 10 with claim_tasks, complete each with its own one-item complete_tasks call.

    The real worker's report of a lone task (an idle worker's hand-off): the batch call's fixed
    cost per statement, paid by a single task.
    """
    tasks = bench_core._claim(conn, flow, worker_id)
    for run_id, step_slug, task_index, attempt, task_input in tasks:
        item = {
            "run_id": str(run_id),
            "step_slug": step_slug,
            "task_index": task_index,
            "attempt": attempt,
            "output": bench_core._output(task_input),
        }
        conn.execute("select count(*) from pgflow.complete_tasks(%s)", (Jsonb([item]),))
    return len(tasks)


PROTOCOLS = {**bench_core.PROTOCOLS, "batch1": step_batch1}


def drain(dsn: str, flow: str, protocol: str, expected: int, clients: int) -> tuple[float, float]:
    """Drain ``expected`` tasks with ``clients`` loops; return (seconds, backend CPU seconds)."""
    step = PROTOCOLS[protocol]
    conns = [psycopg.connect(dsn, autocommit=True) for _ in range(clients)]
    try:
        pids = [c.info.backend_pid for c in conns]
        workers = [bench_core._register(c, flow) for c in conns]
        lock = threading.Lock()
        done = threading.Event()
        count = [0]
        errors: list[BaseException] = []

        def loop(conn: psycopg.Connection[Any], worker_id: uuid.UUID) -> None:
            try:
                while not done.is_set():
                    n = step(conn, flow, worker_id)
                    if n == 0:
                        time.sleep(0.002)
                        continue
                    with lock:
                        count[0] += n
                        if count[0] >= expected:
                            done.set()
            except BaseException as exc:
                errors.append(exc)
                done.set()

        cpu0 = sum(backend_cpu(p) for p in pids)
        started = time.perf_counter()
        threads = [
            threading.Thread(target=loop, args=(c, w), daemon=True)
            for c, w in zip(conns, workers, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - started
        cpu = sum(backend_cpu(p) for p in pids) - cpu0
        if errors:
            raise errors[0]
        return seconds, cpu
    finally:
        for c in conns:
            c.close()


def main(argv: list[str] | None = None) -> int:
    """Run the rounds and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="server (a maintenance database URL); must be local")
    parser.add_argument("--variant", action="append", help="tree, 0.2.0, tree+FILE.sql ...")
    parser.add_argument("--shape", choices=sorted(bench_core.SHAPES), default="chain3")
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default="batch")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=3000, help="tasks per measurement (3000)")
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args(argv)
    variants: list[str] = args.variant or ["tree", "0.2.0"]

    url = server_url(args.dsn)
    rates: dict[str, list[float]] = {v: [] for v in variants}
    cpus: dict[str, list[float]] = {v: [] for v in variants}
    with ExitStack() as stack:
        dsns = {}
        for i, variant in enumerate(variants):
            dsns[variant] = stack.enter_context(scratch_database(url, f"variant{i}"))
            with psycopg.connect(dsns[variant], autocommit=True) as conn:
                install(conn, variant)
        for r in range(args.rounds):
            for variant in variants if r % 2 == 0 else variants[::-1]:
                flow = f"{args.shape}_{uuid.uuid4().hex[:6]}"
                with psycopg.connect(dsns[variant], autocommit=True) as conn:
                    per_run = bench_core.define(conn, args.shape, flow)
                    runs = max(1, args.tasks // per_run)
                    bench_core.seed(conn, flow, args.shape, runs)
                    conn.execute("vacuum analyze")
                tasks = runs * per_run
                seconds, cpu = drain(dsns[variant], flow, args.protocol, tasks, args.clients)
                rates[variant].append(tasks / seconds)
                cpus[variant].append(cpu / tasks * 1000)
                print(
                    f"round {r} {variant:24} {tasks / seconds:8,.0f} tasks/s"
                    f" {cpu / tasks * 1000:7.3f} ms server CPU/task",
                    flush=True,
                )
    base_rate = statistics.median(rates[variants[0]])
    base_cpu = statistics.median(cpus[variants[0]])
    print(f"\n{args.shape}/{args.protocol}, {args.clients} clients, medians of {args.rounds}:")
    print(f"{'variant':24}{'tasks/s':>9}{'ratio':>7}{'CPU ms/task':>13}{'ratio':>7}  CPU range")
    for v in variants:
        rate, cpu = statistics.median(rates[v]), statistics.median(cpus[v])
        print(
            f"{v:24}{rate:9,.0f}{rate / base_rate:7.2f}{cpu:13.3f}{cpu / base_cpu:7.2f}"
            f"  {min(cpus[v]):.3f}-{max(cpus[v]):.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
