"""Every command that connects says so in one line when the database cannot be reached.

Run as the real ``pgflow`` process does (``python -m pgflow_yaml``), so that the error goes
through ``pgflow_yaml.cli.main``: one line on stderr naming the server, never the password,
no traceback, exit status 2.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FLOW = "flows_examples/hello.yaml"
COMMANDS = {
    "install": ["install"],
    "run-worker": ["run-worker", FLOW],
    "run": ["run", FLOW],
    "compile --check": ["compile", FLOW, "--check"],
    "start": ["start", "hello", "--input", "{}"],
    "status": ["status", "0190abcd-0000-7000-8000-000000000000"],
    "runs": ["runs"],
    "cancel": ["cancel", "0190abcd-0000-7000-8000-000000000000"],
    "retry": ["retry", "0190abcd-0000-7000-8000-000000000000"],
    "prune": ["prune", "--older-than", "30 days"],
}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def pgflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pgflow_yaml", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


@pytest.mark.parametrize("argv", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_refused_connection_is_one_line_naming_the_server(argv: list[str]) -> None:
    port = _closed_port()
    result = pgflow(*argv, "--dsn", f"postgresql://app:hunter2@127.0.0.1:{port}/orders")
    assert result.stderr.splitlines() == [
        f'error: cannot connect to 127.0.0.1:{port}, database "orders", user "app":'
        " Connection refused"
    ]
    assert result.returncode == 2
    assert result.stdout == ""


@pytest.mark.parametrize("argv", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_malformed_dsn_is_one_line_without_the_password(argv: list[str]) -> None:
    result = pgflow(*argv, "--dsn", "host=h password=hunter2 oops")
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: invalid database URL 'host=h password=*** oops'")
    assert "hunter2" not in result.stderr
    assert result.returncode == 2
