"""A flow's input_schema travels with its compiled migration: stored, changed and removed in
place (an option, not the shape), reported by the drift check, installed by ``--apply``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from typer.testing import CliRunner

from pgflow_yaml.cli import app
from pgflow_yaml.compiler import compile_flow
from pgflow_yaml.validate import load_flows
from pgflow_yaml.worker.startup import verify_shapes
from tests.compile.helpers import TIMESTAMP, apply, flow

Conn = psycopg.Connection[Any]

SCHEMA = {"type": "object", "required": ["source"], "properties": {"source": {"type": "string"}}}
ETL = """\
slug: etl
input_schema:
  type: object
  required: [source]
  properties:
    source: {type: string}
steps:
  - slug: extract
    handler: etl:extract
"""


def stored(conn: Conn, slug: str = "etl") -> Any:
    row = conn.execute("select opt_input_schema from pgflow.flows where flow_slug = %s", (slug,))
    (value,) = row.fetchone() or (None,)
    return value


def test_the_migration_stores_changes_and_removes_the_schema_in_place(conn: Conn) -> None:
    apply(conn, flow("etl", {"slug": "extract"}, input_schema=SCHEMA))
    assert stored(conn) == SCHEMA
    changed = {"type": "object", "required": ["source", "day"]}
    apply(conn, flow("etl", {"slug": "extract"}, input_schema=changed))  # the guard lets it pass
    assert stored(conn) == changed
    apply(conn, flow("etl", {"slug": "extract"}, input_schema=False))
    assert stored(conn) is False
    apply(conn, flow("etl", {"slug": "extract"}))
    assert stored(conn) is None


def test_the_schema_block_survives_a_dollar_quote_tag_in_the_schema(conn: Conn) -> None:
    tricky = {"description": "$pgflow_input_schema$ and $pgflow_input_schema_1$"}
    sql = compile_flow(
        flow("etl", {"slug": "extract"}, input_schema=tricky), timestamp=TIMESTAMP
    ).sql
    assert "do $pgflow_input_schema_2$" in sql
    conn.execute(sql)
    assert stored(conn) == tricky


def test_the_drift_check_reports_a_changed_schema_as_an_option(tmp_path: Path, dsn: str) -> None:
    flow_file = tmp_path / "etl.yaml"
    flow_file.write_text(ETL, encoding="utf-8")
    runner = CliRunner()
    migration = runner.invoke(app, ["compile", str(flow_file), "--stdout"]).stdout
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(migration)
    check = ["compile", str(flow_file), "--check", "--dsn", dsn]
    assert runner.invoke(app, check).stdout == f"etl ({flow_file}): up to date\n"

    flow_file.write_text(ETL.replace("    source: {type: string}", "    source: {type: integer}"))
    result = runner.invoke(app, check)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"etl ({flow_file}): differs (database vs file)",
        '  options: input_schema {"type":"object","required":["source"],"properties":{"source":'
        '{"type":"string"}}} vs {"type":"object","required":["source"],"properties":{"source":'
        '{"type":"integer"}}}',
    ]
    flow_file.write_text(ETL.split("input_schema:")[0] + ETL.split("source: {type: string}\n")[1])
    assert runner.invoke(app, check).stdout.splitlines()[1] == (
        '  options: input_schema {"type":"object","required":["source"],"properties":{"source":'
        '{"type":"string"}}} vs (none)'
    )


def test_apply_installs_a_missing_flow_with_its_schema(tmp_path: Path, conn: Conn) -> None:
    flow_file = tmp_path / "etl.yaml"
    flow_file.write_text(ETL, encoding="utf-8")
    notes = verify_shapes(conn, load_flows([flow_file]), apply=True)
    assert [(n.flow_slug, n.text) for n in notes] == [("etl", "flow etl: installed")]
    assert stored(conn) == SCHEMA
