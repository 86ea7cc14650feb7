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
        "enrich_customer",
        "hello",
        "onboard_customers",
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


def test_onboarding_runs_one_enrich_customer_child_per_customer(
    start_worker: StartWorker, client: Client
) -> None:
    start_worker(EXAMPLES, extra=("--flow", "onboard_customers", "--flow", "enrich_customer"))
    customers = [
        {"id": "c1", "email": "Ada@Example.com"},
        {"id": "c2", "email": "bob@gmail.com"},
        {"id": "c3", "email": "cy@acme.io"},
    ]
    run = client.wait(client.start("onboard_customers", {"customers": customers}), 60)
    assert run.status == "completed", run.error
    assert run.output == {"summary": {"customers": 3, "business": 2, "order": ["c1", "c2", "c3"]}}
    children = client.children(run.run_id)
    assert [(c.flow_slug, c.parent_step_slug, c.status) for c in children] == [
        ("enrich_customer", "enrich", "completed")
    ] * 3
    assert client.get(children[1].run_id).output == {"tier": {"id": "c2", "tier": "personal"}}


def test_unpaid_order_skips_the_receipt(start_worker: StartWorker, client: Client) -> None:
    start_worker(EXAMPLES, extra=("--flow", "order_pipeline"))
    run = client.wait(client.start("order_pipeline", {"order_id": "B-1", "items": []}), 30)
    assert run.status == "completed"
    states = {s.step_slug: s for s in run.steps}
    assert states["receipt"].status == "skipped"
    assert states["charge"].status == "completed"
