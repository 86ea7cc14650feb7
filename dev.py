#!/usr/bin/env python3
"""Set up and run pgflow-yaml from a fresh checkout with nothing but python3.

    python3 dev.py demo    # virtualenv + install + run the example flow end to end
    python3 dev.py test    # virtualenv + install + ruff + mypy + the whole test suite

The virtualenv lives in ``.venv/`` and is reused. With no database configured
(``PGFLOW_DATABASE_URL``/``DATABASE_URL``, or ``PGFLOW_TEST_DATABASE_URL`` for the tests),
an embedded PostgreSQL is started from a pip-installed wheel and kept in ``.pgflow/``.
Extra arguments after ``test`` go to pytest.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
import venv
from pathlib import Path

MIN_PYTHON = (3, 11)
ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".pgflow-installed"


def run(*cmd: str | Path) -> None:
    """Run a command from the repository root; exit with its code when it fails."""
    print("+", shlex.join(str(c) for c in cmd), flush=True)
    code = subprocess.call([str(c) for c in cmd], cwd=ROOT)
    if code:
        sys.exit(code)


def fail(message: str) -> None:
    """Print one readable line and exit with the usage/environment error code."""
    print(f"dev.py: {message}", file=sys.stderr)
    sys.exit(2)


def ensure_venv() -> None:
    """Create ``.venv`` and install the package with its dev extras when pyproject changed."""
    if sys.version_info < MIN_PYTHON:
        fail(
            f"pgflow-yaml needs Python {'.'.join(map(str, MIN_PYTHON))} or newer;"
            f" this is {sys.version.split()[0]} ({sys.executable})"
        )
    if not (BIN / "python").exists():
        try:
            import ensurepip  # noqa: F401
        except ImportError:
            fail("this Python has no ensurepip: install its venv module (apt install python3-venv)")
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(BIN / "python", "-m", "pip", "install", "--quiet", "-e", ".[dev]")
    STAMP.write_text(digest)


def demo() -> None:
    """Validate the example flows, then run one end to end on a real worker."""
    run(BIN / "pgflow", "validate", "flows_examples")
    run(
        BIN / "pgflow",
        "run",
        "flows_examples/order_pipeline.yaml",
        "--input",
        '{"order_id": "A-17", "items": [{"sku": "mug", "qty": 2}, {"sku": "tee", "qty": 1}]}',
    )


def test(args: list[str]) -> None:
    """Lint, type-check and run the whole test suite; fail when any of them fails.

    Every stage runs even after an earlier one failed, so one run reports everything.
    """
    if not os.environ.get("PGFLOW_TEST_DATABASE_URL"):
        print(
            "PGFLOW_TEST_DATABASE_URL is not set: the tests use an embedded PostgreSQL"
            " in .pgflow/test-server",
            flush=True,
        )
    stages = {
        "ruff check": [BIN / "ruff", "check", "."],
        "ruff format": [BIN / "ruff", "format", "--check", "."],
        "mypy": [BIN / "mypy"],
        "pytest": [BIN / "python", "-m", "pytest", *args],
    }
    codes = {}
    for name, cmd in stages.items():
        print("+", shlex.join(str(c) for c in cmd), flush=True)
        codes[name] = subprocess.call([str(c) for c in cmd], cwd=ROOT)
    failed = [name for name, code in codes.items() if code]
    print("dev.py test:", ", ".join(f"{n} {'FAILED' if codes[n] else 'ok'}" for n in codes))
    if failed:
        sys.exit(codes["pytest"] or 1)


def main() -> None:
    """Dispatch ``demo`` or ``test``."""
    if len(sys.argv) < 2 or sys.argv[1] not in {"demo", "test"}:
        print(__doc__)
        sys.exit(2)
    try:
        ensure_venv()
        if sys.argv[1] == "demo":
            demo()
        else:
            test(sys.argv[2:])
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
