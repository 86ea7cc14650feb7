"""The README's tour runs as written, line by line, on the embedded server.

No database is configured (the tour's own premise), and the commands run in a temporary copy
of the example flows, so ``.pgflow/`` and ``migrations/`` land there. The background line
(``... &``) is started as a process of its own, waited for until it serves, and stopped before
``pgflow db stop``, as the README says to.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
ENV_VARS = ("PGFLOW_DATABASE_URL", "DATABASE_URL")


def tour_lines() -> list[str]:
    """Return the command lines of the README's shell blocks after the quick start."""
    after_quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[1]
    blocks = re.findall(r"```sh\n(.*?)```", after_quick_start, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def _wait_for(path: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        if text in log:
            return
        if proc.poll() is not None:
            raise AssertionError(f"the background command exited {proc.returncode}:\n{log}")
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} in the background command's output")


def _stop(background: list[subprocess.Popen[bytes]]) -> None:
    for proc in background:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    for proc in background:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    background.clear()


def test_the_tour_has_the_commands_this_test_knows() -> None:
    lines = tour_lines()
    assert all(line.startswith("pgflow ") for line in lines), lines
    assert sum(line.split(" #", 1)[0].strip().endswith("&") for line in lines) == 1
    assert lines[-1].startswith("pgflow db stop")


@pytest.mark.timeout(600)
def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    shutil.copytree(REPO / "flows_examples", tmp_path / "flows_examples")
    shutil.copytree(REPO / "schemas", tmp_path / "schemas")
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["COLUMNS"] = "120"
    background: list[subprocess.Popen[bytes]] = []
    printed: dict[str, str] = {}
    try:
        for number, line in enumerate(tour_lines()):
            command = line.split(" #", 1)[0].strip()
            if command.endswith("&"):
                log = tmp_path / f"background-{number}.log"
                with log.open("wb") as out:
                    proc = subprocess.Popen(
                        shlex.split(command.rstrip("& ")),
                        cwd=tmp_path,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                background.append(proc)
                _wait_for(log, "worker started", proc)
                continue
            if command.startswith("pgflow db stop"):
                _stop(background)  # "stop the worker first"
            result = subprocess.run(
                shlex.split(command),
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
            printed[shlex.split(command)[1]] = result.stdout + result.stderr
    finally:
        _stop(background)
        if (tmp_path / ".pgflow" / "db").exists():
            subprocess.run(
                ["pgflow", "db", "stop", "--force"], cwd=tmp_path, env=env, capture_output=True
            )
    assert '"message": "HELLO, ADA!"' in printed["start"]
    assert " completed" in printed["runs"]
    assert list((tmp_path / "migrations").glob("*_create_hello_flow.sql"))
    assert "stopped the embedded server" in printed["db"]
