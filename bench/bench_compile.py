"""Benchmark ``pgflow compile``: 1,000 generated flow files of 20 steps, validation included.

    .venv/bin/python bench/bench_compile.py [--files 1000] [--steps 20] [--rounds 3]

Times, best of a few rounds, in one run:
- compile_paths: validate every file, then compile every flow to SQL (what the CLI does,
  minus writing the files); target under 2 s for 1,000 files of 20 steps;
- of which compiling alone (compile_flow on the already validated flows);
- the baseline: the same files read with libyaml's ``CSafeLoader`` and nothing else, the
  floor any YAML tool pays; the ratio against it stays meaningful on a busy machine.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

import yaml
from bench_validate import best_of  # sibling script: bench/ is on sys.path when run

from pgflow_yaml.compiler import compile_flow, compile_paths
from pgflow_yaml.validate import validate_paths

TIMESTAMP = "20260101000000"


def generated_flow(number: int, steps: int, rng: random.Random) -> str:
    """Return a valid flow file: a random DAG with maps, conditions and step options."""
    lines = [
        f"slug: generated_{number}",
        f"description: Generated flow {number}, with 'quotes' and a \\\\ backslash.",
        "max_attempts: 4",
        "base_delay: 2",
        "steps:",
    ]
    for i in range(steps):
        lines += [f"  - slug: s{i}", f"    handler: app.handlers:step_{i}"]
        if i == 0:
            continue
        if i % 8 == 4:
            lines.append(f"    map: s{i - 1}")
            continue
        parents = sorted(rng.sample(range(i), min(i, rng.randint(1, 3))))
        lines.append(f"    depends_on: [{', '.join(f's{p}' for p in parents)}]")
        if i % 4 == 1:
            lines += ["    max_attempts: 6", "    timeout: 45", "    start_delay: 1"]
        if i % 9 == 2:
            lines += [
                f'    if: {{s{parents[0]}: {{status: "it\'s ok", count: {i}}}}}',
                "    when_unmet: skip-cascade",
                "    when_exhausted: skip",
            ]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Generate the files, time compiling them and the baseline, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = []
        for number in range(args.files):
            path = folder / f"flow_{number:04d}.yaml"
            path.write_text(generated_flow(number, args.steps, rng), encoding="utf-8")
            paths.append(path)

        result = compile_paths([folder], timestamp=TIMESTAMP)
        if result.exit_code != 0 or len(result.migrations) != args.files:
            sys.stderr.write(result.report.render("text"))
            sys.stderr.write("\n".join(result.errors))
            sys.stderr.write("generated files do not compile: the benchmark is broken\n")
            return 1
        flows = validate_paths([folder]).flows

        def baseline() -> None:
            for path in paths:
                yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)

        def compile_only() -> None:
            for flow in flows:
                compile_flow(flow, timestamp=TIMESTAMP)

        total = best_of(args.rounds, lambda: compile_paths([folder], timestamp=TIMESTAMP))
        compiling = best_of(args.rounds, compile_only)
        floor = best_of(args.rounds, baseline)

    size = sum(len(m.sql) for m in result.migrations) / len(result.migrations)
    print(f"compile_paths (validate + compile): {args.files} files x {args.steps} steps")
    print(f"  {total:.3f} s ({total / args.files * 1000:.2f} ms per file; target < 2 s)")
    print(
        f"  of which compile_flow alone: {compiling:.3f} s ({size / 1024:.1f} KiB of SQL per file)"
    )
    print(f"baseline CSafeLoader read of the same files: {floor:.3f} s")
    print(f"  ratio compile_paths / baseline: {total / floor:.2f}")
    print(f"  ratio compile_flow alone / baseline: {compiling / floor:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
