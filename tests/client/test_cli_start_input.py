"""``pgflow start`` / ``pgflow run``: the input is checked against the stored input_schema, and
no --input is refused, naming the fields, when the schema requires some (CliRunner, real DB)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from typer.testing import CliRunner

from pgflow_yaml.cli import app

Conn = psycopg.Connection[Any]

SCHEMA = {
    "type": "object",
    "required": ["source", "day"],
    "properties": {"source": {"type": "string"}, "day": {"type": "string"}},
}
NEEDS_INPUT = (
    "error: flow 'etl' needs an input with source, day (its input_schema requires them): pass it"
    """ with --input '{"source": "...", "day": "..."}' or --input @input.json\n"""
)


def pgflow(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def make_flow(conn: Conn, slug: str, schema: Any) -> None:
    conn.execute("select pgflow.create_flow(%s, input_schema => %s)", (slug, Jsonb(schema)))
    conn.execute("select pgflow.add_step(%s, 'extract')", (slug,))


def runs(conn: Conn) -> list[Any]:
    return [r[0] for r in conn.execute("select input from pgflow.runs order by started_at")]


def test_start_by_slug_refuses_an_input_the_stored_schema_refuses(conn: Conn, dsn: str) -> None:
    make_flow(conn, "etl", SCHEMA)
    code, stdout, stderr = pgflow("start", "etl", "--input", '{"source": 5}', "--dsn", dsn)
    assert (code, stdout) == (1, "")
    assert stderr == (
        "error: the input does not match the input_schema of flow 'etl':\n"
        "  input: 'day' is a required property\n"
        "  input['source']: 5 is not of type 'string'\n"
    )
    code, stdout, _ = pgflow("start", "etl", "-i", '{"source": "a", "day": "b"}', "--dsn", dsn)
    assert code == 0 and len(stdout.strip()) == 36
    assert runs(conn) == [{"source": "a", "day": "b"}]


def test_start_without_input_names_the_required_fields(conn: Conn, dsn: str) -> None:
    make_flow(conn, "etl", SCHEMA)
    assert pgflow("start", "etl", "--dsn", dsn) == (2, "", NEEDS_INPUT)
    make_flow(conn, "one", {"required": ["source"]})
    code, _, stderr = pgflow("start", "one", "--dsn", dsn)
    assert (code, stderr) == (
        2,
        "error: flow 'one' needs an input with source (its input_schema requires it): pass it"
        """ with --input '{"source": "..."}' or --input @input.json\n""",
    )
    assert runs(conn) == []


def test_start_without_input_uses_an_empty_object_when_the_flow_needs_nothing(
    conn: Conn, dsn: str
) -> None:
    make_flow(conn, "free", None)
    make_flow(conn, "optional", {"type": "object", "properties": {"day": {"type": "string"}}})
    assert pgflow("start", "free", "--dsn", dsn)[0] == 0
    assert pgflow("start", "optional", "--dsn", dsn)[0] == 0
    assert runs(conn) == [{}, {}]


def test_run_without_input_names_the_required_fields(dsn: str, tmp_path: Path) -> None:
    (tmp_path / "etl_steps.py").write_text("def extract(input):\n    return input\n")
    flow_file = tmp_path / "etl.yaml"
    flow_file.write_text(
        "slug: etl\n"
        "input_schema: {type: object, required: [source, day]}\n"
        "steps:\n  - slug: extract\n    handler: etl_steps:extract\n"
    )
    assert pgflow("run", str(flow_file), "--dsn", dsn) == (2, "", NEEDS_INPUT)
    with psycopg.connect(dsn) as conn:
        assert runs(conn) == []
        stored = conn.execute("select opt_input_schema from pgflow.flows").fetchone()
    assert stored is None  # refused from the file alone, before the flow is installed
