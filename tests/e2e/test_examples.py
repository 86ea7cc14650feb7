"""Every example flow runs to completion under one worker serving them all."""

from __future__ import annotations

from pgflow_yaml.client import Client

from .conftest import EXAMPLES, StartWorker


def test_every_example_flow_completes_with_the_expected_output(
    start_worker: StartWorker, client: Client
) -> None:
    worker = start_worker(EXAMPLES)
    assert sorted(worker.wait_for("worker_started")["flows"]) == [
        "approval",
        "hello",
        "order_pipeline",
        "word_stats",
    ]
    hello = client.start("hello", {"name": "Ada"})
    order = client.start(
        EXAMPLES / "order_pipeline.yaml",
        {"order_id": "A-17", "items": [{"sku": "mug", "qty": 2}, {"sku": "tee", "qty": 1}]},
    )
    words = client.start("word_stats", ["a b c", "d e"])

    assert client.wait(hello, 30).output == {"shout": {"message": "HELLO, ADA!"}}
    run = client.wait(order, 30)
    assert run.status == "completed"
    assert run.output == {"receipt": "order A-17: paid 30, 2 shipped"}
    assert [s.status for s in run.steps] == ["completed"] * 4
    assert client.wait(words, 30).output == {"total": {"documents": 2, "words": 5}}


def test_unpaid_order_skips_the_receipt(start_worker: StartWorker, client: Client) -> None:
    start_worker(EXAMPLES, extra=("--flow", "order_pipeline"))
    run = client.wait(client.start("order_pipeline", {"order_id": "B-1", "items": []}), 30)
    assert run.status == "completed"
    states = {s.step_slug: s for s in run.steps}
    assert states["receipt"].status == "skipped"
    assert states["charge"].status == "completed"
