"""``pgflow run FILE`` of a parent flow: the flows its sub-flow steps run (and theirs) are taken
from the flow files of FILE's folder, installed, and served by the in-process worker."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psycopg
from typer.testing import CliRunner

from pgflow_yaml.cli import app

MODULE = f"run_subflows_{os.getpid()}"
HANDLERS = """\
def items(value):
    return value["run"]["items"]

def price(value):
    return {"net": value["run"]["qty"] * 10}

def tax(value):
    net = value["run"]["price"]["net"]
    return {"gross": net + net // 10}

def total(value):
    return sum(child["add_tax"]["tax"]["gross"] for child in value["priced"])
"""
PARENT = f"""\
slug: orders
steps:
  - slug: items
    handler: {MODULE}:items
  - slug: priced
    map: items
    flow: pricing
  - slug: total
    handler: {MODULE}:total
    depends_on: [priced]
"""
CHILD = f"""\
slug: pricing
steps:
  - slug: price
    handler: {MODULE}:price
  - slug: add_tax
    flow: taxes
    depends_on: [price]
"""
GRANDCHILD = f"""\
slug: taxes
steps:
  - slug: tax
    handler: {MODULE}:tax
"""


def _folder(tmp_path: Path) -> Path:
    (tmp_path / f"{MODULE}.py").write_text(HANDLERS)
    (tmp_path / "orders.yaml").write_text(PARENT)
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "pricing.yaml").write_text(CHILD)
    (tmp_path / "more" / "taxes.yaml").write_text(GRANDCHILD)
    # a file of the folder that no sub-flow step needs is not read beyond its slug
    (tmp_path / "broken.yaml").write_text("slug: broken\nsteps: [oops\n")
    return tmp_path / "orders.yaml"


def test_a_parent_flow_runs_with_its_children_and_grandchildren(dsn: str, tmp_path: Path) -> None:
    parent = _folder(tmp_path)
    result = CliRunner().invoke(
        app, ["run", str(parent), "--dsn", dsn, "--input", '{"items": [{"qty": 2}, {"qty": 5}]}']
    )
    assert result.exit_code == 0, result.stderr
    # 20 + 2 and 50 + 5, each through a child run of pricing and a grandchild run of taxes
    assert json.loads(result.stdout) == {"total": 77}
    with psycopg.connect(dsn) as conn:
        runs = conn.execute(
            "select flow_slug, status, count(*) from pgflow.runs group by 1, 2 order by 1"
        ).fetchall()
        installed = conn.execute("select flow_slug from pgflow.flows order by 1").fetchall()
    assert runs == [
        ("orders", "completed", 1),
        ("pricing", "completed", 2),
        ("taxes", "completed", 2),
    ]
    assert installed == [("orders",), ("pricing",), ("taxes",)]


def test_a_child_flow_found_nowhere_is_reported(dsn: str, tmp_path: Path) -> None:
    parent = _folder(tmp_path)
    (tmp_path / "more" / "taxes.yaml").unlink()
    result = CliRunner().invoke(app, ["run", str(parent), "--dsn", dsn, "--input", '{"items": []}'])
    assert result.exit_code == 1
    assert "PGF343" in result.stderr and '"taxes"' in result.stderr
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select count(*) from pgflow.flows").fetchone() == (0,)
