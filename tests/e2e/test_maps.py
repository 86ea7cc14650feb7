"""Map steps of 0, 1 and 1,000 elements."""

from __future__ import annotations

from pgflow_yaml.client import Client

from .conftest import StartWorker


def test_a_root_map_of_any_size_fans_in_in_order(start_worker: StartWorker, client: Client) -> None:
    start_worker(extra=("--flow", "e2e_map", "--concurrency", "20"))
    inputs = {size: ["x" * (i % 7) for i in range(size)] for size in (0, 1, 1000)}
    run_ids = {size: client.start("e2e_map", items) for size, items in inputs.items()}
    for size, run_id in run_ids.items():
        run = client.wait(run_id, 120)
        assert run.status == "completed"
        expected = {"items": size, "sum": sum(len(i) for i in inputs[size])}
        assert run.output == {"total": expected}
        lengths = {s.step_slug: s for s in run.steps}["lengths"]
        assert lengths.status == "completed"
        assert lengths.initial_tasks == size
