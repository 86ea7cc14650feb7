"""Flow-control options travel with the compiled migration: stored and changed in place (options,
not shape), compared by the drift check, absent from flows that do not use them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from typer.testing import CliRunner

from pgflow_yaml.cli import app
from pgflow_yaml.compiler import compile_flow
from pgflow_yaml.validate import validate_source
from tests.compile.helpers import TIMESTAMP, apply, flow

Conn = psycopg.Connection[Any]

BILLING = """\
slug: billing
priority: 2
steps:
  - slug: fetch
    handler: billing:fetch
    concurrency: {limit: 2, key: run.customer}
    rate_limit: {limit: 10, per: 60}
  - slug: charge
    handler: billing:charge
    depends_on: [fetch]
    concurrency: 3
    priority: 5
"""


def _stored(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute(
        "select step_slug, opt_priority, opt_concurrency_limit, opt_concurrency_key,"
        " opt_rate_limit, opt_rate_per, opt_rate_key from pgflow.steps"
        " where flow_slug = 'billing' order by step_index"
    ).fetchall()


def test_a_flow_without_flow_control_compiles_without_its_arguments() -> None:
    sql = compile_flow(flow("plain", {"slug": "a"}), timestamp=TIMESTAMP).sql
    main, _, blocks = sql.partition("\ndo $pgflow_input_schema$")
    assert "select pgflow.add_step(" in main
    for argument in ("priority", "concurrency_", "rate_"):
        assert argument not in main
    # they appear only in guarded blocks (skipped on pgflow 0.8.1, which has no such
    # arguments), all null: one removes a flow concurrency limit stored earlier, one resets
    # priorities and step limits stored earlier
    assert blocks.count("concurrency_limit => null") == 2
    assert "'rate_per' = any (p.proargnames)" in blocks
    assert (
        "    perform pgflow.create_flow(flow_slug => 'plain', priority => null);\n"
        "    perform pgflow.add_step(flow_slug => 'plain', step_slug => 'a', step_type => 'single',"
        " priority => null, concurrency_limit => null, concurrency_key => null,"
        " rate_limit => null, rate_per => null, rate_key => null);\n"
    ) in blocks


def test_a_flow_using_flow_control_has_no_reset_block() -> None:
    (spec,) = validate_source(BILLING, "billing.yaml").flows
    assert "pgflow_flow_control" not in compile_flow(spec, timestamp=TIMESTAMP).sql


def test_the_options_are_stored_and_changed_in_place(conn: Conn) -> None:
    (spec,) = validate_source(BILLING, "billing.yaml").flows
    conn.execute(compile_flow(spec, timestamp=TIMESTAMP).sql)
    assert _stored(conn) == [
        ("fetch", None, 2, "run.customer", 10, 60, None),
        ("charge", 5, 3, None, None, None, None),
    ]
    assert conn.execute("select opt_priority, flow_control from pgflow.flows").fetchone() == (
        2,
        True,
    )
    changed = BILLING.replace("    concurrency: 3\n", "").replace("limit: 2, key", "limit: 4, key")
    (spec,) = validate_source(changed, "billing.yaml").flows
    conn.execute(compile_flow(spec, timestamp=TIMESTAMP).sql)  # the shape guard lets it pass
    assert _stored(conn) == [
        ("fetch", None, 4, "run.customer", 10, 60, None),
        ("charge", 5, None, None, None, None, None),
    ]


def test_the_drift_check_compares_every_stored_field(tmp_path: Path, dsn: str) -> None:
    flow_file = tmp_path / "billing.yaml"
    flow_file.write_text(BILLING, encoding="utf-8")
    runner = CliRunner()
    migration = runner.invoke(app, ["compile", str(flow_file), "--stdout"]).stdout
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(migration)
    check = ["compile", str(flow_file), "--check", "--dsn", dsn]
    assert runner.invoke(app, check).stdout == f"billing ({flow_file}): up to date\n"
    flow_file.write_text(BILLING.replace("key: run.customer", "key: run.account"))
    result = runner.invoke(app, check)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1:] == [
        "  step 0 (fetch) options: concurrency_key run.customer vs run.account"
    ]


def test_an_unchanged_plain_flow_gets_no_flow_control(conn: Conn) -> None:
    apply(conn, flow("plain", {"slug": "a"}))
    assert conn.execute("select flow_control from pgflow.flows").fetchone() == (False,)


PLAIN_BILLING = """\
slug: billing
steps:
  - slug: fetch
    handler: billing:fetch
  - slug: charge
    handler: billing:charge
    depends_on: [fetch]
  - slug: notify
    handler: billing:notify
    map: fetch
    if: {run: {notify: true}}
    when_exhausted: skip
  - slug: approve
    signal: {schema: {type: object}}
    depends_on: [charge]
"""


def test_dropping_every_option_resets_them_in_place(tmp_path: Path, dsn: str) -> None:
    controlled = PLAIN_BILLING.replace(
        "    handler: billing:fetch\n",
        "    handler: billing:fetch\n    concurrency: {limit: 2, key: run.customer}\n"
        "    rate_limit: {limit: 10, per: 60, key: run.customer}\n    priority: 4\n",
    ).replace("    depends_on: [fetch]\n", "    depends_on: [fetch]\n    concurrency: 3\n")
    flow_file = tmp_path / "billing.yaml"
    flow_file.write_text("priority: 2\n" + controlled, encoding="utf-8")
    runner = CliRunner()
    check = ["compile", str(flow_file), "--check", "--dsn", dsn]
    with psycopg.connect(dsn, autocommit=True) as conn:
        (spec,) = validate_source(flow_file.read_text(), "billing.yaml").flows
        conn.execute(compile_flow(spec, timestamp=TIMESTAMP).sql)
        assert _stored(conn)[:2] == [
            ("fetch", 4, 2, "run.customer", 10, 60, "run.customer"),
            ("charge", None, 3, None, None, None, None),
        ]
        assert conn.execute("select opt_priority, flow_control from pgflow.flows").fetchone() == (
            2,
            True,
        )
        flow_file.write_text(PLAIN_BILLING, encoding="utf-8")
        assert runner.invoke(app, check).exit_code == 1  # the database still holds them
        (spec,) = validate_source(PLAIN_BILLING, "billing.yaml").flows
        migration = compile_flow(spec, timestamp=TIMESTAMP)
        assert migration.extensions != ()  # the condition and the signal: the core's shape
        conn.execute(migration.sql)
        assert _stored(conn) == [
            (slug, None, None, None, None, None, None)
            for slug in ("fetch", "charge", "notify", "approve")
        ]
        assert conn.execute("select opt_priority, flow_control from pgflow.flows").fetchone() == (
            None,
            False,
        )
        assert runner.invoke(app, check).stdout == f"billing ({flow_file}): up to date\n"
        conn.execute(migration.sql)  # again: a no-op
        assert conn.execute("select flow_control from pgflow.flows").fetchone() == (False,)
