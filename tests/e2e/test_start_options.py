"""Idempotency keys and starts inside the caller's transaction, with a real worker running."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from pgflow_yaml import AsyncClient
from pgflow_yaml.client import Client
from pgflow_yaml.compiler import compile_flow
from pgflow_yaml.errors import RunNotFound, UsageError
from pgflow_yaml.validate import load_flows

from .conftest import FLOWS, StartWorker, executions


def _runs(dsn: str) -> list[tuple[str, str | None]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [
            (str(r), k)
            for r, k in conn.execute(
                "select run_id, idempotency_key from pgflow.runs order by started_at"
            ).fetchall()
        ]


def test_a_second_start_with_the_key_returns_the_first_run(
    start_worker: StartWorker, client: Client, dsn: str
) -> None:
    start_worker(extra=("--flow", "e2e_chain"))
    first = client.start("e2e_chain", {"n": 1}, idempotency_key="order-17")
    assert client.wait(first, 30).status == "completed"
    again = client.start("e2e_chain", {"n": 2}, idempotency_key="order-17")
    other = client.start("e2e_chain", {"n": 3}, idempotency_key="order-18")
    assert again == first
    assert client.wait(other, 30).status == "completed"
    assert _runs(dsn) == [(first, "order-17"), (other, "order-18")]


def test_async_start_and_start_many_take_keys(client: Client, dsn: str) -> None:
    async def scenario() -> tuple[str, str, list[str]]:
        async with AsyncClient(dsn) as aclient:
            first = await aclient.start("e2e_chain", {}, idempotency_key="a")
            again = await aclient.start("e2e_chain", {}, idempotency_key="a")
            many = await aclient.start_many(
                "e2e_chain", [{}, {}, {}], idempotency_keys=["a", "b", None]
            )
            return first, again, many

    _apply_chain(dsn)
    first, again, many = asyncio.run(scenario())
    assert again == first == many[0]
    assert len(set(many)) == 3
    assert len(_runs(dsn)) == 3
    assert client.start_many("e2e_chain", [{}, {}], idempotency_keys=["b", "c"])[0] == many[1]
    with pytest.raises(UsageError) as err:
        client.start_many("e2e_chain", [{}, {}], idempotency_keys=["x"])
    assert str(err.value) == "start_many got 2 inputs but 1 idempotency keys"
    with pytest.raises(UsageError) as err:
        client.start("e2e_chain", {}, idempotency_key="")
    assert str(err.value) == "an idempotency key is a non-empty string"


def _apply_chain(dsn: str) -> None:
    """Create the e2e_chain flow (what a worker's --apply does) without starting a worker."""
    (flow,) = load_flows([FLOWS / "e2e_chain.yaml"])
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(compile_flow(flow, timestamp="20260101000000").sql.encode())


def test_racing_cli_starts_with_one_key_make_one_run(dsn: str) -> None:
    _apply_chain(dsn)
    argv = [sys.executable, "-m", "pgflow_yaml", "start", "e2e_chain", "--dsn", dsn]
    procs = [
        subprocess.Popen(
            [*argv, "--idempotency-key", "nightly-2026-12-01", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    printed = set()
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        printed.add(json.loads(out)["run_id"])
    assert len(printed) == 1
    assert _runs(dsn) == [(printed.pop(), "nightly-2026-12-01")]


def test_a_rolled_back_start_never_reaches_the_worker(
    start_worker: StartWorker, client: Client, dsn: str, record_file: Path
) -> None:
    start_worker(extra=("--flow", "e2e_chain"))
    with psycopg.connect(dsn) as conn:
        conn.execute("create table public.orders (id int primary key)")
        conn.commit()
        conn.execute("insert into public.orders values (17)")
        hidden = client.start("e2e_chain", {"order": 17}, connection=conn)
        # the worker keeps serving while the transaction is open
        seen = client.start("e2e_chain", {"order": 18})
        assert client.wait(seen, 30).status == "completed"
        conn.rollback()
        with pytest.raises(RunNotFound):
            client.status(hidden)
        assert conn.execute("select count(*) from public.orders").fetchone() == (0,)
    ran = {run_id for run_id, *_ in executions(record_file)}
    assert seen in ran and hidden not in ran


def test_a_committed_start_runs_with_the_callers_write(
    start_worker: StartWorker, client: Client, dsn: str
) -> None:
    start_worker(extra=("--flow", "e2e_chain"))
    with psycopg.connect(dsn) as conn:
        conn.execute("create table public.orders (id int primary key)")
        conn.execute("insert into public.orders values (17)")
        run_id = client.start("e2e_chain", {"order": 17}, connection=conn)
        with pytest.raises(RunNotFound):
            client.status(run_id)  # not visible outside the transaction yet
        conn.commit()
    assert client.wait(run_id, 30).status == "completed"


def test_async_start_in_the_callers_transaction(start_worker: StartWorker, dsn: str) -> None:
    start_worker(extra=("--flow", "e2e_chain"))

    async def scenario() -> tuple[str, str, str]:
        async with AsyncClient(dsn) as aclient:
            async with await psycopg.AsyncConnection.connect(dsn) as conn:
                dropped = await aclient.start("e2e_chain", {}, connection=conn)
                await conn.rollback()
                kept = await aclient.start("e2e_chain", {}, connection=conn)
                await conn.commit()
            run = await aclient.wait(kept, 30)
            try:
                await aclient.status(dropped)
            except RunNotFound:
                return run.status, kept, "gone"
            return run.status, kept, "exists"

    status, kept, dropped = asyncio.run(scenario())
    assert (status, dropped) == ("completed", "gone")
    assert [r for r, _ in _runs(dsn)] == [kept]


def test_connection_of_the_wrong_kind_is_refused(client: Client, dsn: str) -> None:
    async def scenario() -> str:
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            try:
                client.start("e2e_chain", {}, connection=conn)  # type: ignore[arg-type]
            except UsageError as exc:
                return str(exc)
        return "accepted"

    assert asyncio.run(scenario()) == (
        "Client takes a psycopg.Connection as connection= (AsyncClient an AsyncConnection),"
        " not AsyncConnection"
    )


def test_a_client_used_only_with_connection_never_resolves_a_dsn(
    dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No DSN anywhere: a client given each call's connection must not start (or look for) the
    embedded server, which resolving a DSN would do."""
    from pgflow_yaml import embedded

    for var in ("PGFLOW_DATABASE_URL", "DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)

    def no_embedded(*args: object, **kwargs: object) -> str:
        raise AssertionError("the client resolved a DSN: it would start the embedded server")

    monkeypatch.setattr(embedded, "server_url", no_embedded)
    spec = load_flows([FLOWS / "e2e_chain.yaml"])[0]
    with psycopg.connect(dsn) as conn:
        conn.execute(compile_flow(spec, timestamp="20260101000000").sql.encode())
        with Client(flows=[spec]) as client:
            run_id = client.start(spec, {"order": 1}, connection=conn)
            [other] = client.start_many(spec, [{"order": 2}], connection=conn)
        conn.commit()

    async def in_async() -> str:
        async with (
            AsyncClient(flows=[spec]) as aclient,
            await psycopg.AsyncConnection.connect(dsn) as aconn,
        ):
            started = await aclient.start(spec, {"order": 3}, connection=aconn)
            await aconn.commit()
            return started

    third = asyncio.run(in_async())
    assert sorted(r for r, _ in _runs(dsn)) == sorted([run_id, other, third])
    assert not (tmp_path / ".pgflow").exists()
    with pytest.raises(AssertionError, match="resolved a DSN"):
        _ = Client().dsn  # its own connection would need one: resolved then, not before
