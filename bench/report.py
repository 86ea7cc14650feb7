"""Run the benchmark suite and write docs/benchmarks.md with its figures and PNG plots.

    python bench/report.py --quick      # small backlog and history: 2-4 minutes
    python bench/report.py              # backlog up to 200,000 tasks, history up to 1,000,000 runs
    python bench/report.py --long       # + 1,000,000 queued tasks and 10,000,000 runs of history

Needs the ``bench`` extra (matplotlib): ``pip install -e '.[bench]'``. Every figure is a ratio
against a baseline measured in the same run (pgbench TPC-B of the same server, an empty
history, a small backlog), so that the load of a shared machine moves both sides alike. The
parts:

- **cores**: tasks/s ÷ TPC-B TPS of our core (``batch`` protocol, and pgflow 0.8.1's protocol)
  next to the published pgflow 0.8.1 core under its own protocol (installed by
  ``tests/compat``'s harness; skipped with the reason when npm cannot fetch it);
- **backlog**: claim + complete tasks/s with growing numbers of queued tasks, alternating
  samples against the smallest backlog (``bench_core.py``'s harness);
- **history**: claim + complete tasks/s with growing numbers of finished runs in the tables,
  alternating samples against an empty history (``bench_history.py``), then the worst claim
  latency of a concurrent workload while ``pgflow prune`` deletes part of it, and the size of
  the tables per 10,000 finished runs; a larger history measured on its own by
  ``bench_history.py`` (the newest of the largest ``bench/results/bench_history_*.json``,
  e.g. ``--long``'s 10,000,000 runs) joins the section as its own row;
- **worker processes**: read from the newest ``bench/results/bench_hosts_*.json`` written by
  ``bench/bench_hosts.py`` when there is one (this script does not run it: it needs network
  namespaces and takes minutes); the section says so otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO), str(BENCH)]

import bench_core  # noqa: E402
import bench_history  # noqa: E402
from _pgbench import BenchError, Pgbench, scratch_database, server_url  # noqa: E402

from pgflow_yaml import core  # noqa: E402

DOC = REPO / "docs" / "benchmarks.md"
IMAGES = REPO / "docs" / "images"
HOSTS_JSON_GLOB = "bench_hosts_*.json"  # bench/bench_hosts.py's output, in bench/results/
HISTORY_JSON_GLOB = "bench_history_*.json"  # bench/bench_history.py's output, in bench/results/


@dataclass
class Mode:
    """The sizes of one report mode."""

    name: str
    tasks: int  # per throughput measurement
    pgbench_seconds: int
    shapes: tuple[str, ...]
    backlogs: tuple[int, ...]  # the first is the baseline
    backlog_sample: int
    histories: tuple[int, ...]  # the first is 0 (the baseline database stays empty)
    history_sample: int
    rounds: int
    prune_fraction: float
    prune_window: int


MODES = {
    "quick": Mode(
        "quick", 1500, 3, ("chain3",), (1_000, 20_000), 1000, (0, 50_000), 1500, 2, 0.2, 4
    ),
    "normal": Mode(
        "normal",
        3000,
        5,
        ("chain3", "map10"),
        (1_000, 10_000, 200_000),
        1000,
        (0, 100_000, 1_000_000),
        3000,
        3,
        0.1,
        15,
    ),
    "long": Mode(
        "long",
        3000,
        5,
        ("chain3", "map10"),
        (1_000, 10_000, 200_000, 1_000_000),
        1000,
        (0, 100_000, 1_000_000, 10_000_000),
        3000,
        3,
        0.02,
        15,
    ),
}


@dataclass
class Report:
    """Everything measured, as written to the JSON next to the Markdown."""

    mode: str
    command: str
    machine: dict[str, Any]
    cores: list[dict[str, Any]] = field(default_factory=list)
    cores_skipped: str | None = None
    backlog: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    prune: dict[str, Any] = field(default_factory=dict)
    sizes: dict[str, Any] = field(default_factory=dict)
    hosts: dict[str, Any] | None = None
    history_file: dict[str, Any] | None = None  # a larger history from bench_history.py
    seconds: float = 0.0


def log(text: str) -> None:
    """Print progress at once."""
    print(text, flush=True)


# --- the machine --------------------------------------------------------------------------------


def machine(url: str) -> dict[str, Any]:
    """Return the cpu count, load average, PostgreSQL version and a few settings."""
    with psycopg.connect(url, autocommit=True) as conn:
        version = conn.execute("show server_version").fetchone()
        settings = dict(
            conn.execute(
                "select name, setting from pg_settings where name in"
                " ('shared_buffers', 'synchronous_commit', 'max_connections', 'work_mem')"
            ).fetchall()
        )
    load = os.getloadavg()
    return {
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in load],
        "postgresql": version[0] if version else "?",
        "settings": settings,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


# --- the parts ----------------------------------------------------------------------------------


def cores(url: str, mode: Mode, report: Report, no_reference: bool) -> None:
    """Our core and pgflow 0.8.1's, tasks/s ÷ TPC-B, pgbench around each measurement."""
    log("cores: tasks/s ÷ pgbench TPC-B (4 clients), pgbench before and after each measurement")
    with scratch_database(url, "report_core") as dsn, Pgbench(url, clients=4) as bench:
        with psycopg.connect(dsn, autocommit=True) as conn:
            core.install(conn)
        last = bench.run(mode.pgbench_seconds).tps

        def one(target: str, core_name: str, protocol: str, shape: str) -> None:
            nonlocal last
            m = bench_core.measure(target, core_name, protocol, shape, mode.tasks, 4)
            after = bench.run(mode.pgbench_seconds).tps
            baseline, last = (last + after) / 2, after
            ratio = m.tasks_per_s / baseline
            log(
                f"  {core_name:13} {protocol:6} {shape:7} {m.tasks_per_s:7,.0f} tasks/s"
                f"  TPC-B {baseline:6,.0f}  ratio {ratio:.2f}"
            )
            report.cores.append(
                {
                    "core": core_name,
                    "protocol": protocol,
                    "shape": shape,
                    "tasks_per_s": m.tasks_per_s,
                    "tpcb_tps": baseline,
                    "ratio": ratio,
                }
            )

        for shape in mode.shapes:
            one(dsn, "pgflow-yaml", "batch", shape)
            one(dsn, "pgflow-yaml", "0.8.1", shape)
        if no_reference:
            report.cores_skipped = "--no-reference"
            return
        try:
            from tests.compat.pgflow081 import HarnessUnavailable, reference_database
        except ImportError as exc:
            report.cores_skipped = str(exc)
            return
        try:
            with reference_database(url) as ref:
                for shape in mode.shapes:
                    one(ref, "pgflow 0.8.1", "0.8.1", shape)
        except HarnessUnavailable as exc:
            report.cores_skipped = str(exc)
            log(f"  (pgflow 0.8.1 skipped: {exc})")


def backlog(url: str, mode: Mode, report: Report) -> None:
    """Claim + complete tasks/s against growing backlogs, alternating samples."""
    log(
        f"backlog: {', '.join(f'{b:,}' for b in mode.backlogs)} queued tasks,"
        f" {mode.rounds} alternating samples of {mode.backlog_sample:,} tasks each"
    )
    with scratch_database(url, "report_backlog") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            core.install(conn)
        flows = []
        for size in mode.backlogs:
            flow, seeded = bench_core.backlog_flow(dsn, size)
            log(f"  seeded {size:,} tasks in {seeded:.0f} s")
            flows.append((size, flow, seeded))
        samples: dict[int, list[float]] = {size: [] for size in mode.backlogs}
        for _ in range(mode.rounds):
            for size, flow, _seeded in flows:
                samples[size].append(
                    bench_core.backlog_sample(dsn, flow, size, mode.backlog_sample, 4)
                )
        base = statistics.median(samples[mode.backlogs[0]])
        for size, _flow, seeded in flows:
            tps = statistics.median(samples[size])
            log(f"  {size:>10,} queued: {tps:7,.0f} tasks/s  ratio {tps / base:.2f}")
            report.backlog.append(
                {
                    "queued": size,
                    "tps": tps,
                    "ratio": tps / base,
                    "samples": samples[size],
                    "seed_seconds": seeded,
                }
            )


def history(url: str, mode: Mode, report: Report) -> None:
    """Claim + complete tasks/s with growing history, then prune under load and table sizes."""
    log(
        f"history: {', '.join(f'{h:,}' for h in mode.histories)} finished runs,"
        f" {mode.rounds} samples of {mode.history_sample:,} tasks alternating with an empty"
        " history"
    )
    final = mode.histories[-1]
    with (
        scratch_database(url, "report_hist_empty") as empty,
        scratch_database(url, "report_hist_full") as full,
    ):
        bench_history.install(empty)
        bench_history.install(full)
        size_empty = bench_history.relation_bytes(full)
        filled = 0
        for size in mode.histories:
            if size > filled:
                seconds = bench_history.fill_history(
                    full, size - filled, first=filled, span_runs=final, progress=False
                )
                log(f"  filled {size - filled:,} runs in {seconds:.0f} s")
                filled = size
            size_full = bench_history.relation_bytes(full)
            bench_history.warm_up(empty, 4, rounds=2)
            bench_history.warm_up(full, 4, rounds=2)
            base: list[float] = []
            with_history: list[float] = []
            for _ in range(mode.rounds):
                base.append(bench_history.sample(empty, mode.history_sample, 4))
                with_history.append(bench_history.sample(full, mode.history_sample, 4))
            e, f = statistics.median(base), statistics.median(with_history)
            log(f"  {size:>11,} runs: {f:7,.0f} tasks/s, empty {e:7,.0f}  ratio {f / e:.2f}")
            report.history.append(
                {
                    "runs": size,
                    "tps": f,
                    "empty_tps": e,
                    "ratio": f / e,
                    "samples": with_history,
                    "empty_samples": base,
                    "bytes": size_full,
                }
            )
        args = argparse.Namespace(
            clients=4,
            batch_size=1000,
            prune_fraction=mode.prune_fraction,
            prune_window=mode.prune_window,
        )
        log(f"  prune of the oldest {mode.prune_fraction:.0%} under load ...")
        report.prune = bench_history.prune_under_load(full, final, args)
        p = report.prune
        log(
            f"  pruned {p['runs_deleted']:,} runs in {p['seconds']:.1f} s; worst claim"
            f" {p['without_prune'].get('max_ms', 0):.0f} ms without,"
            f" {p['during_prune'].get('max_ms', 0):.0f} ms during"
        )
        after = bench_history.relation_bytes(full)
        with psycopg.connect(full, autocommit=True) as conn:
            conn.execute("vacuum")
        vacuumed = bench_history.relation_bytes(full)
        report.sizes = {
            "runs": final,
            "bytes_empty": size_empty,
            "bytes_full": report.history[-1]["bytes"],
            "bytes_per_10k_runs": (report.history[-1]["bytes"] - size_empty)
            / max(final, 1)
            * 10_000,
            "bytes_after_prune": after,
            "bytes_after_vacuum": vacuumed,
            "runs_after_prune": bench_history.finished_runs(full),
        }


def hosts(report: Report) -> None:
    """Read the newest bench_hosts JSON (bench/bench_hosts.py), if there is one."""
    found = sorted((BENCH / "results").glob(HOSTS_JSON_GLOB))
    if not found:
        return
    try:
        data = json.loads(found[-1].read_text())
    except (OSError, ValueError):
        return
    points = _host_points(data)
    if points:
        report.hosts = {"file": found[-1].name, "points": points}


def history_file(report: Report) -> None:
    """Read the bench_history JSON of the largest history, if it beats this report's largest.

    ``bench/bench_history.py --long`` (10,000,000 runs, 30-40 minutes) is usually run on its
    own; its figures then join the report as a separate row, with its prune and sizes. Of the
    files of the largest history, the newest one that measured the prune wins, else the newest.
    """
    measured = max((h["runs"] for h in report.history), default=0)
    found: list[tuple[int, bool, str, dict[str, Any]]] = []
    for path in (BENCH / "results").glob(HISTORY_JSON_GLOB):
        try:
            figures = _history_figures(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
        if figures and figures["runs"] > measured:
            pruned = bool(figures["prune"] and figures["prune"].get("runs_deleted"))
            found.append((figures["runs"], pruned, path.name, figures))
    if not found:
        report.history_file = None
        return
    _, _, name, figures = max(found, key=lambda f: f[:3])
    report.history_file = {"file": name, **figures}


def _history_figures(data: Any) -> dict[str, Any] | None:
    """Return runs, tasks/s, ratio, prune and sizes of one bench_history JSON, or None."""
    history = data.get("history") if isinstance(data, dict) else None
    if not isinstance(history, dict):
        return None
    try:
        figures: dict[str, Any] = {
            "runs": int(history["runs"]),
            "tps": float(history["full_tps"]),
            "empty_tps": float(history["empty_tps"]),
            "ratio": float(history["ratio"]),
        }
    except (KeyError, TypeError, ValueError):
        return None
    figures["prune"] = data.get("prune") if isinstance(data.get("prune"), dict) else None
    figures["sizes"] = data.get("sizes") if isinstance(data.get("sizes"), dict) else None
    after = data.get("after_prune")
    figures["after_prune_ratio"] = (
        float(after["ratio"]) if isinstance(after, dict) and "ratio" in after else None
    )
    return figures


def _host_points(data: Any) -> list[dict[str, float]]:
    """Return ``[{"workers": n, "tasks_per_s": x}, ...]`` from bench_hosts' JSON, leniently.

    Accepted: a list of such objects, or an object holding one under ``results``, ``points``
    or ``workers`` (keys ``workers``/``processes``/``hosts`` and ``tasks_per_s``/``tps``).
    """
    if isinstance(data, dict):
        for key in ("results", "points", "workers"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    points = []
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict):
            continue
        n = next((item[k] for k in ("workers", "processes", "hosts") if k in item), None)
        tps = next((item[k] for k in ("tasks_per_s", "tps") if k in item), None)
        if isinstance(n, int | float) and isinstance(tps, int | float):
            points.append({"workers": float(n), "tasks_per_s": float(tps)})
    return sorted(points, key=lambda p: p["workers"])


# --- plots and the Markdown ---------------------------------------------------------------------


def plots(report: Report, images: Path) -> list[str]:
    """Write the PNG plots; return their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(images / name, dpi=90)
        plt.close(fig)
        written.append(name)

    if report.backlog:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        xs = [b["queued"] for b in report.backlog]
        ax.plot(xs, [b["tps"] for b in report.backlog], "o-", label="tasks/s (median)")
        ax.axhline(
            report.backlog[0]["tps"] * bench_core.TARGET_BACKLOG,
            ls="--",
            c="grey",
            label="target: 0.8 × smallest backlog",
        )
        ax.set_xscale("log")
        ax.set_xlabel("queued tasks")
        ax.set_ylabel("tasks/s")
        ax.set_title("claim + complete vs backlog")
        ax.legend(fontsize=8)
        save(fig, "bench-backlog.png")
    if report.history or report.history_file:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        xs = [max(h["runs"], 1) for h in report.history]
        ax.plot(xs, [h["tps"] for h in report.history], "o-", label="with history")
        ax.plot(
            xs, [h["empty_tps"] for h in report.history], "s--", label="empty history (same run)"
        )
        if report.history_file:
            hf = report.history_file
            ax.plot([hf["runs"]], [hf["tps"]], "D", c="tab:red", label="bench_history.py run")
            ax.plot([hf["runs"]], [hf["empty_tps"]], "x", c="tab:red", label="its empty history")
        ax.set_xscale("symlog", linthresh=10_000)
        ax.set_xlabel("finished runs in the tables")
        ax.set_ylabel("tasks/s")
        ax.set_title("claim + complete vs history size")
        ax.legend(fontsize=8)
        save(fig, "bench-history.png")
    if report.cores:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        labels = [f"{c['core']}\n{c['protocol']} {c['shape']}" for c in report.cores]
        colors = ["tab:green" if c["core"] == "pgflow-yaml" else "tab:orange" for c in report.cores]
        ax.bar(range(len(labels)), [c["ratio"] for c in report.cores], color=colors)
        ax.axhline(1.0, ls="--", c="grey", label="pgbench TPC-B (1.0)")
        ax.set_xticks(range(len(labels)), labels, fontsize=7)
        ax.set_ylabel("tasks/s ÷ TPC-B TPS")
        ax.set_title("our core vs pgflow 0.8.1's, same run")
        ax.legend(fontsize=8)
        save(fig, "bench-cores.png")
    if report.hosts:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        pts = report.hosts["points"]
        ax.plot([p["workers"] for p in pts], [p["tasks_per_s"] for p in pts], "o-")
        ax.set_xlabel("worker processes")
        ax.set_ylabel("tasks/s")
        ax.set_title("throughput vs worker processes (bench_hosts.py)")
        save(fig, "bench-hosts.png")
    return written


def _seconds(interval: str) -> float:
    """Return the seconds of bench_history's ``'N seconds'`` interval text."""
    return float(interval.split()[0])


def _miss(value: float, target: float, *, higher_is_better: bool = True) -> str:
    ok = value >= target if higher_is_better else value <= target
    if ok:
        return "met"
    gap = (target - value) / target if higher_is_better else (value - target) / target
    return f"**missed by {gap:.0%}**"


def _history_file_markdown(hf: dict[str, Any]) -> list[str]:
    """Return the lines of the larger history measured by bench_history.py on its own."""
    cost = 1 / hf["ratio"]
    out = [
        f"Measured on its own by `bench/bench_history.py` (`bench/results/{hf['file']}`, not this"
        " report's run; same generator, samples alternating with an empty history):",
        "",
        "| finished runs | tasks/s | empty history | ratio | cost × empty |",
        "| --- | --- | --- | --- | --- |",
        f"| {hf['runs']:,} | {hf['tps']:,.0f} | {hf['empty_tps']:,.0f} | {hf['ratio']:.2f} |"
        f" {cost:.2f} |",
        "",
        f"Target cost ≤ 1.2 × at {hf['runs']:,} runs: {cost:.2f} ×:"
        f" {_miss(cost, 1.2, higher_is_better=False)}.",
    ]
    p, s = hf.get("prune"), hf.get("sizes")
    if p and p.get("runs_deleted"):
        q, d = p.get("without_prune", {}), p.get("during_prune", {})
        out += [
            "",
            f"Its prune under load: {p['runs_deleted']:,} runs in {p['seconds']:.0f} s"
            f" ({p['runs_per_s']:,.0f} runs/s, batches of {p['batch_size']:,}, the slowest"
            f" {p['batch_max_ms']:.0f} ms); claim latency p99 {q.get('p99_ms', 0):.0f} →"
            f" {d.get('p99_ms', 0):.0f} ms, worst {q.get('max_ms', 0):.0f} →"
            f" {d.get('max_ms', 0):.0f} ms (without → during the prune).",
        ]
    if hf.get("after_prune_ratio"):
        out += [
            "",
            f"After the prune and `vacuum` (new rows reuse the freed pages): ratio"
            f" {hf['after_prune_ratio']:.2f} (cost {1 / hf['after_prune_ratio']:.2f} ×).",
        ]
    if s and s.get("bytes_per_10k_runs"):
        out += [
            "",
            f"Its size: {s['bytes_per_10k_runs'] / 2**20:.1f} MiB per 10,000 finished runs"
            f" ({s['bytes_full'] / 2**30:,.1f} GiB in all)"
            + (
                f"; {s['bytes_after_prune'] / 2**30:,.1f} GiB after the prune"
                if s.get("bytes_after_prune")
                else ""
            )
            + (
                f" ({s['finished_runs_after_prune']:,} finished runs left:"
                f" {s['bytes_after_prune'] / s['finished_runs_after_prune'] * 10_000 / 2**20:.1f}"
                " MiB per 10,000; the files keep their size)"
                if s.get("bytes_after_prune") and s.get("finished_runs_after_prune")
                else ""
            )
            + ".",
        ]
    return out


def markdown(report: Report, images: list[str]) -> str:
    """Return docs/benchmarks.md."""
    m = report.machine
    load = ", ".join(f"{x:.2f}" for x in m["load_average"])
    out = [
        "# Benchmarks",
        "",
        f"Generated by `{report.command}` on {m['date']} in {report.seconds:.0f} s"
        f" ({report.mode} mode). Regenerate it with the same command; the benchmarks and their"
        " method are described in [bench/README.md](../bench/README.md).",
        "",
        "| machine | |",
        "| --- | --- |",
        f"| CPUs | {m['cpu_count']} |",
        f"| load average at start (1, 5, 15 min) | {load} |",
        f"| PostgreSQL | {m['postgresql']} (shared_buffers {m['settings'].get('shared_buffers')}"
        f" × 8 kB, synchronous_commit {m['settings'].get('synchronous_commit')}) |",
        f"| Python | {m['python']} on {m['platform']} |",
        "",
        "**Caveat: the machine is shared.** Other engineers' test suites and benchmarks run on the"
        " same cores at the same time (see the load average above: above the CPU count means"
        " every process waited for a core). Absolute figures move by a factor of two between"
        " runs; every figure below is therefore a ratio against a baseline measured in the same"
        " run, alternated with it, and the ratios are what to compare. Quick mode takes few"
        " samples: its ratios are indicative within about ±15 %.",
        "",
    ]
    out += ["## Our core next to pgflow 0.8.1", ""]
    if report.cores:
        out += [
            "Worker loops (4 connections) drain pre-started runs with no-op work; pgbench TPC-B"
            " (4 clients) runs before and after each measurement and the figure is divided by"
            " the mean of the two. `batch` is our worker's protocol (`claim_tasks` +"
            " `complete_tasks`, 2 commits per 10 tasks); `0.8.1` is pgflow 0.8.1's worker's"
            " (`read_with_poll` + `start_tasks` + `complete_task` per task), run on our core and"
            " on the published pgflow 0.8.1 core.",
            "",
            "| core | protocol | shape | tasks/s | TPC-B TPS | ratio |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for c in report.cores:
            out.append(
                f"| {c['core']} | {c['protocol']} | {c['shape']} | {c['tasks_per_s']:,.0f}"
                f" | {c['tpcb_tps']:,.0f} | {c['ratio']:.2f} |"
            )
        ours = [c for c in report.cores if c["core"] == "pgflow-yaml" and c["protocol"] == "batch"]
        out += [""]
        for c in ours:
            out.append(
                f"- `batch` {c['shape']}: the core alone (no worker process) at"
                f" {c['ratio']:.2f} × TPC-B. Issue 16's target of 1.0 × is for the real worker,"
                " which this report does not run: `bench/bench_worker.py` measures it."
            )
        ref = {c["shape"]: c for c in report.cores if c["core"] == "pgflow 0.8.1"}
        for c in report.cores:
            if c["core"] == "pgflow-yaml" and c["protocol"] == "0.8.1" and c["shape"] in ref:
                r = ref[c["shape"]]
                out.append(
                    f"- pgflow 0.8.1's protocol, {c['shape']}: our core"
                    f" {c['tasks_per_s'] / r['tasks_per_s']:.2f} × the published core."
                )
    if report.cores_skipped:
        out += ["", f"The published pgflow 0.8.1 core was not measured: {report.cores_skipped}."]
    if "bench-cores.png" in images:
        out += ["", "![tasks/s ÷ TPC-B per core](images/bench-cores.png)"]
    out += ["", "## Backlog", ""]
    if report.backlog:
        out += [
            "Claim + complete (`batch`, 4 connections) from queues of root-map runs of 10"
            " tasks, samples alternating between the queues, each topped up (untimed) before"
            " its sample; medians.",
            "",
            "| queued tasks | tasks/s | ÷ smallest backlog |",
            "| --- | --- | --- |",
        ]
        for b in report.backlog:
            out.append(f"| {b['queued']:,} | {b['tps']:,.0f} | {b['ratio']:.2f} |")
        last = report.backlog[-1]
        out += [
            "",
            f"Target: ≥ 0.8 × with 1,000 queued at 1,000,000 queued. Largest backlog"
            f" measured here: {last['queued']:,}, ratio {last['ratio']:.2f}:"
            f" {_miss(last['ratio'], bench_core.TARGET_BACKLOG)}.",
        ]
        if last["queued"] < 1_000_000:
            out.append("1,000,000 queued tasks are measured by `--long` (seeding takes minutes).")
    if "bench-backlog.png" in images:
        out += ["", "![tasks/s vs backlog](images/bench-backlog.png)"]
    out += ["", "## History", ""]
    if report.history:
        out += [
            "A 3-step chain flow; its finished runs (three completed step states, three"
            " completed tasks and three archived pgmq messages each) are written by"
            " `bench_history.py`'s set-based generator into one database, while a second"
            " database keeps an empty history; samples alternate between the two.",
            "",
            "| finished runs | tasks/s | empty history | ratio | cost × empty | tables |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for h in report.history:
            out.append(
                f"| {h['runs']:,} | {h['tps']:,.0f} | {h['empty_tps']:,.0f} |"
                f" {h['ratio']:.2f} | {1 / h['ratio']:.2f} | {h['bytes'] / 2**20:,.0f}"
                " MiB |"
            )
        last = report.history[-1]
        out += [
            "",
            f"Target: cost ≤ 1.2 × an empty history (at 10,000,000 runs). At"
            f" {last['runs']:,} runs: {1 / last['ratio']:.2f} ×:"
            f" {_miss(1 / last['ratio'], 1.2, higher_is_better=False)}.",
        ]
        if 1 / last["ratio"] > 1.2:
            out += [
                "",
                "Where the time goes: the plans do not change with the history (the same"
                " buffers per statement, auto_explain with nested statements). The gap found"
                " so far was the insert into low-cardinality indexes at every status change"
                " (idx_runs_status, idx_runs_flow_slug: dropped in core 0.3.0, after which"
                " 300,000 runs measured 1.07); a gap here after that change points at the"
                " remaining one, idx_step_states_flow_slug, or at the noise of few samples"
                ' (bench/README.md, "What a large history costs").',
            ]
    if report.history_file:
        out += ["", *_history_file_markdown(report.history_file)]
    if "bench-history.png" in images:
        out += ["", "![tasks/s vs history](images/bench-history.png)"]
    if report.prune:
        p = report.prune
        q, d = p["without_prune"], p["during_prune"]
        out += [
            "",
            "### `pgflow prune` under load",
            "",
            f"Four worker loops claim and complete a steady stream of runs (a producer keeps"
            f" ~3,000 tasks queued) while `Client.prune` (what `pgflow prune` runs) deletes the"
            f" runs that ended more than `{p['older_than']}`"
            f" ({_seconds(p['older_than']) / 86400:.1f} days) ago in batches of"
            f" {p['batch_size']:,} (each its own transaction, `for update skip locked`).",
            "",
            "| window | claim calls/s | claim p50 | p99 | worst |",
            "| --- | --- | --- | --- | --- |",
        ]
        for label, w in (("without prune", q), ("during prune", d)):
            if w.get("claims"):
                out.append(
                    f"| {label} | {w['claims_per_s']:,.0f} | {w['p50_ms']:.1f} ms |"
                    f" {w['p99_ms']:.1f} ms | {w['max_ms']:.1f} ms |"
                )
        out += [
            "",
            f"Pruned {p['runs_deleted']:,} of {p['history_runs']:,} runs in"
            f" {p['seconds']:.1f} s ({p['runs_per_s']:,.0f} runs/s, {p['batches']}"
            f" batches, the slowest {p['batch_max_ms']:.0f} ms).",
        ]
    if report.sizes:
        s = report.sizes
        out += [
            "",
            "### Size",
            "",
            "`pg_total_relation_size` (heap, indexes, TOAST) of every pgflow table and the"
            " flow's pgmq queue and archive:",
            "",
            "| | size |",
            "| --- | --- |",
            f"| empty | {s['bytes_empty'] / 2**20:.1f} MiB |",
            f"| {s['runs']:,} finished runs | {s['bytes_full'] / 2**20:,.0f} MiB"
            f" (**{s['bytes_per_10k_runs'] / 2**20:.1f} MiB per 10,000 runs**) |",
            f"| after the prune ({s['runs_after_prune']:,} finished runs left) |"
            f" {s['bytes_after_prune'] / 2**20:,.0f} MiB |",
            f"| after `vacuum` | {s['bytes_after_vacuum'] / 2**20:,.0f} MiB |",
            "",
            "DELETE does not shrink the files: `vacuum` (autovacuum) makes the space of the"
            " pruned rows reusable by new runs, so a database pruned regularly stays at the size"
            " of the history it keeps; only `vacuum full` (an exclusive lock) or pg_repack"
            " returns the space to the operating system.",
        ]
    out += ["", "## Worker processes", ""]
    if report.hosts:
        out += [
            f"From `bench/results/{report.hosts['file']}` (written by `bench/bench_hosts.py`,"
            " not run by this report):",
            "",
            "| worker processes | tasks/s |",
            "| --- | --- |",
        ]
        for pt in report.hosts["points"]:
            out.append(f"| {pt['workers']:.0f} | {pt['tasks_per_s']:,.0f} |")
        if "bench-hosts.png" in images:
            out += ["", "![tasks/s vs worker processes](images/bench-hosts.png)"]
    else:
        out += [
            "Not measured in this report: run `bench/bench_hosts.py` (worker processes in"
            " their own network namespaces), which writes `bench/results/bench_hosts_*.json`;"
            " this report then reads the newest such file and plots tasks/s against worker"
            " processes."
        ]
    out += [
        "",
        "## Commands",
        "",
        "```sh",
        report.command,
        "# the parts on their own, with more samples:",
        ".venv/bin/python bench/bench_core.py            # cores and the backlog",
        ".venv/bin/python bench/bench_history.py         # history, prune, sizes",
        "```",
        "",
    ]
    return "\n".join(out)


# --- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the suite, write the Markdown, its plots and a JSON of the figures."""
    parser = argparse.ArgumentParser(description="Run the benchmarks and write docs/benchmarks.md.")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes (2-4 minutes)")
    size.add_argument("--long", action="store_true", help="1M backlog, 10M history (an hour)")
    parser.add_argument("--dsn", help="server to benchmark (a maintenance database URL)")
    parser.add_argument("--out", type=Path, default=DOC, help="Markdown to write")
    parser.add_argument("--images", type=Path, default=IMAGES, help="folder of the PNG plots")
    parser.add_argument("--no-reference", action="store_true", help="skip pgflow 0.8.1")
    parser.add_argument(
        "--only",
        choices=["cores", "backlog", "history"],
        action="append",
        help="run only these parts (repeatable)",
    )
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="write the Markdown and plots from a bench/results/report_*.json, running nothing",
    )
    args = parser.parse_args(argv)
    if args.render:
        report = Report(**json.loads(args.render.read_text()))
        images = plots(report, args.images)
        args.out.write_text(markdown(report, images))
        log(f"wrote {args.out} and {len(images)} plots from {args.render}")
        return 0
    mode = MODES["quick" if args.quick else "long" if args.long else "normal"]
    url = server_url(args.dsn)
    command = "python bench/report.py" + "".join(
        f" {shlex.quote(a)}"
        for a in (argv if argv is not None else sys.argv[1:])
        if not a.startswith("postgres")
    )
    report = Report(mode.name, command, machine(url))
    started = time.perf_counter()
    parts: list[tuple[str, Callable[[], None]]] = [
        ("cores", lambda: cores(url, mode, report, args.no_reference)),
        ("backlog", lambda: backlog(url, mode, report)),
        ("history", lambda: history(url, mode, report)),
    ]
    for name, part in parts:
        if not args.only or name in args.only:
            part()
    hosts(report)
    history_file(report)
    report.seconds = time.perf_counter() - started
    images = plots(report, args.images)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(report, images))
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    (results / f"report_{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(
        json.dumps(report.__dict__, indent=2, default=str)
    )
    log(f"wrote {args.out} and {len(images)} plots in {report.seconds:.0f} s")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still drop the scratch databases
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
