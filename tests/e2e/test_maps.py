"""Map steps of 0, 1 and 1,000 elements."""

from __future__ import annotations

import pytest

from pgflow_yaml.client import Client

from .conftest import StartWorker


@pytest.mark.parametrize("size", [0, 1, 1000])
def test_a_root_map_of_any_size_fans_in_in_order(
    start_worker: StartWorker, client: Client, size: int
) -> None:
    start_worker(extra=("--flow", "e2e_map", "--concurrency", "20"))
    items = ["x" * (i % 7) for i in range(size)]
    run = client.wait(client.start("e2e_map", items), 120)
    assert run.status == "completed"
    assert run.output == {"total": {"items": size, "sum": sum(len(i) for i in items)}}
    lengths = {s.step_slug: s for s in run.steps}["lengths"]
    assert lengths.status == "completed"
    assert lengths.initial_tasks == size
