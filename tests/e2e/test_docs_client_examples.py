"""The Python examples of docs/client.md run as written, against a served test database."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from .conftest import EXAMPLES, REPO, StartWorker

PAGE = REPO / "docs" / "client.md"
EXAMPLES_IN_PAGE = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)


def test_the_page_has_examples() -> None:
    assert len(EXAMPLES_IN_PAGE) >= 2


@pytest.mark.parametrize("number", range(len(EXAMPLES_IN_PAGE)))
def test_client_example_runs(dsn: str, start_worker: StartWorker, number: int) -> None:
    start_worker(EXAMPLES / "order_pipeline.yaml")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["PGFLOW_DATABASE_URL"] = dsn
    result = subprocess.run(
        [sys.executable, "-c", EXAMPLES_IN_PAGE[number]],
        cwd=REPO,  # the examples name flows_examples/ relative to the repository
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "completed" in result.stdout, result.stdout
