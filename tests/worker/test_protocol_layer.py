"""The worker's layers: the loop and the reporter schedule, the protocol runs named queries."""

from __future__ import annotations

import ast
import asyncio
import logging
from pathlib import Path

import pytest

from pgflow_yaml import queries
from pgflow_yaml.worker import protocol
from pgflow_yaml.worker.errors import CoreMissing
from pgflow_yaml.worker.store import Link

WORKER = Path(protocol.__file__).parent
SCHEDULERS = ["loop.py", "reporter.py"]


def _strings_and_calls(path: Path) -> tuple[set[str], set[str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    strings = {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }
    calls = {
        n.func.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
    }
    return strings, calls


@pytest.mark.parametrize("name", SCHEDULERS)
def test_the_scheduling_modules_never_name_a_query(name: str) -> None:
    tree = ast.parse((WORKER / name).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(m and m.startswith("pgflow_yaml.queries") for m in imported), imported
    assert not any(isinstance(n, ast.alias) and n.name == "queries" for n in ast.walk(tree)), (
        "imports pgflow_yaml.queries"
    )
    strings, calls = _strings_and_calls(WORKER / name)
    assert strings.isdisjoint(queries.all_queries()), strings & set(queries.all_queries())
    assert calls.isdisjoint({"fetch", "fetch_sync", "execute"})


@pytest.mark.parametrize("name", SCHEDULERS)
def test_the_scheduling_modules_never_branch_on_the_core(name: str) -> None:
    text = (WORKER / name).read_text(encoding="utf-8")
    assert "legacy" not in text and "_081" not in text and "Pgflow081" not in text


def test_every_worker_query_is_run_by_the_protocol_or_the_connection_layer() -> None:
    worker_sql = queries.parse((Path(queries.__file__).parent / "worker.sql").read_text())
    named = set()
    for module in ("protocol.py", "store.py", "startup.py"):
        named |= _strings_and_calls(WORKER / module)[0]
    drift = Path(queries.__file__).parent.parent / "drift.py"
    named |= _strings_and_calls(drift)[0]
    assert set(worker_sql) <= named, set(worker_sql) - named


async def _detect(url: str) -> protocol.WorkerProtocol:
    link = Link(url, "housekeeping")
    try:
        return await protocol.detect(link, "00000000-0000-0000-0000-000000000001", ["a"], 5)
    finally:
        await link.close()


def test_our_core_gets_the_batched_protocol(dsn: str) -> None:
    found = asyncio.run(_detect(dsn))
    assert type(found) is protocol.CoreProtocol
    assert (found.flow_slugs, found.visibility) == (["a"], 5)


def test_a_pgflow_081_core_gets_its_single_task_protocol(
    pgflow081_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "pgflow_yaml.worker"):
        found = asyncio.run(_detect(pgflow081_dsn))
    assert type(found) is protocol.Pgflow081Protocol
    assert [r.action for r in caplog.records] == ["legacy_protocol"]  # type: ignore[attr-defined]


def test_a_database_without_a_core_is_refused(empty_dsn: str) -> None:
    with pytest.raises(
        CoreMissing, match=r"^this database has no pgflow core \(run `pgflow install`\)$"
    ):
        asyncio.run(_detect(empty_dsn))
