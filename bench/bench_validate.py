"""Benchmark ``validate_paths`` on 1,000 generated flow files of 20 steps each.

    .venv/bin/python bench/bench_validate.py [--files 1000] [--steps 20] [--rounds 3]

Prints the best time of a few rounds for the full validation, and the same files read with
plain ``yaml.safe_load`` (the pure-Python loader most projects use) and with libyaml's
``CSafeLoader``, measured in the same run: the ratios stay meaningful on a busy machine.
Target: under 2 s for 1,000 files of 20 steps.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from pgflow_yaml.validate import validate_paths


def flow_text(n: int, steps: int, rng: random.Random) -> str:
    """Return a valid flow file: a layered DAG with options, a map step and a condition."""
    lines = [
        "# yaml-language-server: $schema=../schemas/flow.schema.json",
        f"slug: bench_flow_{n}",
        f"description: Generated flow number {n}.",
        "max_attempts: 3",
        "timeout: 60",
        "input_schema:",
        "  type: object",
        "  required: [items]",
        "  properties:",
        "    items: {type: array}",
        "steps:",
    ]
    for i in range(steps):
        lines += [f"  - slug: step_{i}", f"    handler: bench.handlers:step_{i}"]
        if i == 0:
            continue
        if i % 7 == 3:
            lines.append(f"    map: step_{i - 1}")
            continue
        deps = sorted(rng.sample(range(i), min(i, rng.randint(1, 3))))
        lines.append(f"    depends_on: [{', '.join(f'step_{d}' for d in deps)}]")
        if i % 5 == 0:
            lines += ["    max_attempts: 5", "    timeout: 30"]
        if i % 6 == 0:
            lines += [f"    if: {{step_{deps[0]}: {{ok: true}}}}", "    when_unmet: skip"]
    return "\n".join(lines) + "\n"


def best_of(rounds: int, func: Callable[[], object]) -> float:
    """Return the fastest of ``rounds`` runs of ``func``, in seconds."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    """Generate the files, time each way of reading them, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = []
        for n in range(args.files):
            path = folder / f"flow_{n:04d}.yaml"
            path.write_text(flow_text(n, args.steps, rng), encoding="utf-8")
            paths.append(path)

        report = validate_paths([folder])
        if not report.ok or len(report.flows) != args.files:
            sys.stderr.write(report.render("text"))
            sys.stderr.write("generated files are not valid: the benchmark is broken\n")
            return 1

        def safe_load() -> None:
            for path in paths:
                yaml.safe_load(path.read_text(encoding="utf-8"))

        def c_safe_load() -> None:
            for path in paths:
                yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)

        validate = best_of(args.rounds, lambda: validate_paths([folder]))
        plain = best_of(1, safe_load)  # slow and steady: one round is enough
        libyaml = best_of(args.rounds, c_safe_load)

    per_file = validate / args.files * 1000
    print(f"validate_paths: {args.files} files x {args.steps} steps in {validate:.3f} s")
    print(f"  ({per_file:.2f} ms per file; target < 2 s for 1,000 files of 20 steps)")
    print(f"baseline yaml.safe_load (pure Python): {plain:.3f} s -> ratio {validate / plain:.2f}")
    print(
        f"baseline yaml CSafeLoader (libyaml):   {libyaml:.3f} s -> ratio {validate / libyaml:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
