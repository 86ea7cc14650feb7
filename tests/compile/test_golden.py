"""Golden files: the exact bytes the compiler writes for the example flows and edge cases.

Run with ``PGFLOW_UPDATE_GOLDEN=1`` to rewrite them after an intended change, then review the
diff like any other code change.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pgflow_yaml.compiler import CompiledMigration, compile_flow, compile_paths
from tests.compile.helpers import TIMESTAMP, edge_case_flows

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
FLOW_FILES = sorted(
    [p for p in (REPO / "flows_examples").iterdir() if p.suffix in (".yaml", ".yml", ".toml")]
    + sorted((Path(__file__).parent / "flows").glob("*.yaml"))
)


def check_golden(name: str, migration: CompiledMigration) -> None:
    golden = GOLDEN / f"{name}.sql"
    produced = migration.sql.encode("utf-8")
    if os.environ.get("PGFLOW_UPDATE_GOLDEN"):
        golden.write_bytes(produced)
    assert golden.exists(), f"no golden file {golden.name}: run with PGFLOW_UPDATE_GOLDEN=1"
    assert produced == golden.read_bytes()


# the flows a file's sub-flow steps run, compiled with it (its own file then comes a second later)
CHILDREN = {"onboard_customers": [Path("flows_examples/enrich_customer.yaml")]}


@pytest.mark.parametrize("path", FLOW_FILES, ids=lambda p: p.stem)
def test_flow_file(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    children = CHILDREN.get(path.stem, [])
    result = compile_paths([path.relative_to(REPO), *children], timestamp=TIMESTAMP)
    assert result.exit_code == 0, result.report.render("text")
    (migration,) = [m for m in result.migrations if m.flow_slug == path.stem]
    stamp = str(int(TIMESTAMP) + 1) if children else TIMESTAMP
    assert migration.filename == f"{stamp}_create_{migration.flow_slug}_flow.sql"
    check_golden(path.stem, migration)


@pytest.mark.parametrize("name", sorted(edge_case_flows()))
def test_edge_case(name: str) -> None:
    check_golden(name, compile_flow(edge_case_flows()[name], timestamp=TIMESTAMP))


def test_same_input_gives_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    first = compile_paths(["flows_examples"], timestamp=TIMESTAMP).migrations
    second = compile_paths(["flows_examples"], timestamp=TIMESTAMP).migrations
    later = compile_paths(["flows_examples"], timestamp="20270101000000").migrations
    assert first == second
    assert [m.sql for m in later] == [m.sql for m in first]
    # every name moves with the timestamp (a flow with sub-flow steps stays a second later)
    assert [m.filename[14:] for m in later] == [m.filename[14:] for m in first]
    assert [int(m.filename[:14]) - 20270101000000 for m in later] == [
        int(m.filename[:14]) - int(TIMESTAMP) for m in first
    ]
