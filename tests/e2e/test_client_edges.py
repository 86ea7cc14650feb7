"""The client without sharp edges: run ids already used, many waits, datetimes, run statuses."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import datetime
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from pgflow_yaml import AsyncClient, Client, RunExists, RunNotFound, UsageError, WaitTimeout
from pgflow_yaml.cli import app

from .conftest import EXAMPLES

# A timestamp as --json must print it (ISO 8601 with "T"), and as it must not.
ISO = re.compile(r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d"')
SPACED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d")


@pytest.fixture
def flow(dsn: str) -> str:
    """Create a one-step flow ``f`` (no worker serves it: its runs stay started)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select pgflow.create_flow('f')")
        conn.execute("select pgflow.add_step('f', 'a')")
    return "f"


def test_starting_with_a_run_id_in_use_raises_run_exists(dsn: str, flow: str) -> None:
    run_id = uuid.uuid4()
    with Client(dsn) as client:
        assert client.start(flow, {}, run_id=run_id) == str(run_id)
        with pytest.raises(RunExists) as caught:
            client.start(flow, {}, run_id=run_id)
    assert str(caught.value) == f"a run with id {run_id} already exists"


def test_run_exists_async(dsn: str, flow: str) -> None:
    async def main() -> str:
        run_id = str(uuid.uuid4())
        async with AsyncClient(dsn) as client:
            await client.start(flow, {}, run_id=run_id)
            with pytest.raises(RunExists) as caught:
                await client.start(flow, {}, run_id=run_id)
        return str(caught.value)

    assert asyncio.run(main()).startswith("a run with id ")


def test_run_exists_on_pgflow_081(pgflow081_dsn: str) -> None:
    with psycopg.connect(pgflow081_dsn, autocommit=True) as conn:
        conn.execute("select pgflow.create_flow('f')")
        conn.execute("select pgflow.add_step('f', 'a')")
    run_id = str(uuid.uuid4())
    with Client(pgflow081_dsn) as client:
        client.start("f", {}, run_id=run_id)
        with pytest.raises(RunExists, match=run_id):
            client.start("f", {}, run_id=run_id)


def test_wait_many_returns_runs_in_the_order_given(dsn: str, flow: str) -> None:
    with Client(dsn) as client:
        ids = client.start_many(flow, [{"i": i} for i in range(3)])
        for run_id in reversed(ids):
            client.cancel(run_id)
        runs = client.wait_many([ids[2], ids[0], ids[1]], timeout=10)
    assert [r.run_id for r in runs] == [ids[2], ids[0], ids[1]]
    assert [r.status for r in runs] == ["cancelled"] * 3
    assert [r.input for r in runs] == [{"i": 2}, {"i": 0}, {"i": 1}]


def test_wait_many_times_out_naming_the_unfinished_runs(dsn: str, flow: str) -> None:
    with Client(dsn) as client:
        done, going_1, going_2 = client.start_many(flow, [{}, {}, {}])
        client.cancel(done)
        with pytest.raises(WaitTimeout) as caught:
            client.wait_many([going_1, done, going_2], timeout=0.2)
    assert str(caught.value) == f"2 of 3 runs still going after 0.2s: {going_1}, {going_2}"
    assert caught.value.context["run_ids"] == [going_1, going_2]
    assert isinstance(caught.value, TimeoutError)


def test_wait_many_of_an_unknown_run(dsn: str, flow: str) -> None:
    unknown = str(uuid.uuid4())
    with Client(dsn) as client:
        run_id = client.start(flow, {})
        client.cancel(run_id)
        with pytest.raises(RunNotFound, match=f"no run {unknown}"):
            client.wait_many([run_id, unknown], timeout=5)


def test_wait_many_async(dsn: str, flow: str) -> None:
    async def main() -> tuple[list[str], list[str], str]:
        async with AsyncClient(dsn) as client:
            ids = await client.start_many(flow, [{}, {}])
            await client.cancel(ids[1])
            await client.cancel(ids[0])
            runs = await client.wait_many(ids[::-1], timeout=10)
            going = await client.start(flow, {})
            with pytest.raises(WaitTimeout) as caught:
                await client.wait_many([going], timeout=0.1)
        return ids[::-1], [r.run_id for r in runs], str(caught.value)

    expected, got, message = asyncio.run(main())
    assert got == expected
    assert message.startswith("1 of 1 run still going after 0.1s: ")


def test_timestamps_are_datetimes_on_every_row_type(dsn: str, flow: str) -> None:
    with Client(dsn) as client:
        run_id = client.start(flow, {})
        run = client.cancel(run_id)
        (summary,) = client.runs()
        (task,) = client.tasks(run_id)
    assert isinstance(run.started_at, datetime) and run.started_at.tzinfo is not None
    (step,) = run.steps
    assert isinstance(step.started_at, datetime)
    assert isinstance(summary.started_at, datetime) and isinstance(task.queued_at, datetime)
    assert run.started_at == summary.started_at
    data = run.to_json()
    assert data["started_at"] == run.started_at.isoformat()
    assert data["steps"][0]["started_at"] == step.started_at.isoformat()
    json.dumps(data)  # plain JSON data


def test_runs_refuses_an_unknown_status(dsn: str) -> None:
    message = (
        "unknown run status 'bogus'; use one of: queued, started, completed, failed, cancelled"
    )
    with Client(dsn) as client, pytest.raises(UsageError) as caught:
        client.runs(status="bogus")
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)

    async def main() -> None:
        async with AsyncClient(dsn) as client:
            await client.runs(status="bogus")

    with pytest.raises(UsageError, match="unknown run status 'bogus'"):
        asyncio.run(main())


def _cli(dsn: str, *args: str) -> Any:
    result = CliRunner().invoke(app, [*args, "--dsn", dsn])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_every_json_output_writes_iso_timestamps(dsn: str, flow: str) -> None:
    ran = _cli(dsn, "run", str(EXAMPLES / "hello.yaml"), "--input", '{"name": "Ada"}', "--json")
    with Client(dsn) as client:
        run_id = client.start(flow, {})
    outputs = {
        "run": ran,
        "status": _cli(dsn, "status", run_id, "--json"),
        "runs": _cli(dsn, "runs", "--json"),
        "cancel": _cli(dsn, "cancel", run_id, "--json"),
        "retry": _cli(dsn, "retry", run_id, "--json"),
    }
    for name, text in outputs.items():
        json.loads(text)
        assert ISO.search(text), f"{name}: {text}"
        assert not SPACED.search(text), f"{name}: {text}"
    assert json.loads(ran)["output"] == {"shout": {"message": "HELLO, ADA!"}}
