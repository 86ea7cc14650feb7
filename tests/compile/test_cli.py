"""``pgflow compile`` and ``pgflow graph`` from the command line: outputs and exit codes."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from pgflow_yaml import __version__
from pgflow_yaml.cli import app
from pgflow_yaml.compiler import latest_migration
from pgflow_yaml.validate import validate_paths
from tests.compile.helpers import TIMESTAMP

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"

ORDER = """\
slug: orders
max_attempts: 3
steps:
  - slug: check
    handler: shop:check
  - slug: charge
    handler: shop:charge
    depends_on: [check]
    timeout: 30
  - slug: ship
    handler: shop:ship
    map: check
"""


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_writes_one_file_per_flow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    out = tmp_path / "migrations"
    code, stdout, _ = run(
        "compile", "flows_examples", "--out-dir", str(out), "--timestamp", TIMESTAMP
    )
    assert code == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        f"{TIMESTAMP}_create_approval_flow.sql",
        f"{TIMESTAMP}_create_enrich_customer_flow.sql",
        f"{TIMESTAMP}_create_hello_flow.sql",
        f"{TIMESTAMP}_create_order_pipeline_flow.sql",
        f"{TIMESTAMP}_create_word_stats_flow.sql",
        # after enrich_customer, which its sub-flow step runs
        f"{int(TIMESTAMP) + 1}_create_onboard_customers_flow.sql",
    ]
    assert (out / names[2]).read_bytes() == (GOLDEN / "hello.sql").read_bytes()
    assert f"wrote {out / names[0]} (needs the pgflow-yaml core)" in stdout
    assert f"wrote {out / names[3]} (needs the pgflow-yaml core)" in stdout
    assert f"wrote {out / names[5]} (needs the pgflow-yaml core)" in stdout


def test_default_folder_and_timestamp(tmp_path: Path) -> None:
    flow_file = write(tmp_path, "orders.yaml", ORDER)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        code, _, _ = run("compile", flow_file.name)
    assert code == 0
    (written,) = (tmp_path / "migrations").iterdir()
    assert written.name.endswith("_create_orders_flow.sql")
    assert written.name[:14].isdigit()


def test_stdout(tmp_path: Path) -> None:
    flow_file = write(tmp_path, "orders.yaml", ORDER)
    code, stdout, _ = run("compile", str(flow_file), "--stdout", "--timestamp", TIMESTAMP)
    assert code == 0
    assert stdout.startswith(f"-- compiled by pgflow-yaml {__version__} from {flow_file} (sha256 ")
    assert "select pgflow.add_step(flow_slug => 'orders', step_slug => 'ship'," in stdout
    assert not (tmp_path / "migrations").exists()


def test_invalid_file_writes_nothing_and_exits_1(tmp_path: Path) -> None:
    good = write(tmp_path, "orders.yaml", ORDER)
    bad = write(
        tmp_path,
        "bad.yaml",
        ORDER.replace("slug: orders", "slug: bad").replace("map: check", "map: nowhere"),
    )
    out = tmp_path / "out"
    code, stdout, stderr = run("compile", str(good), str(bad), "--out-dir", str(out))
    assert code == 1
    assert "error[PGF3" in stderr
    assert "nowhere" in stderr
    assert stdout == ""
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timestamp", "2026-01-01"], "is not YYYYMMDDHHMMSS"),
        (["--timestamp", "20261301000000"], "not a valid date"),
        (["--stdout", "--out-dir", "x"], "--stdout and --out-dir exclude each other"),
        (["--check", "--stdout"], "--check writes nothing"),
        (["--dsn", "postgresql:///x"], "--dsn only applies with --check"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    flow_file = write(tmp_path, "orders.yaml", ORDER)
    code, _, stderr = run("compile", str(flow_file), *args)
    assert code == 2
    assert message in stderr


def test_missing_file_exits_2(tmp_path: Path) -> None:
    code, _, stderr = run("compile", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert "PGF101" in stderr


def test_check_reports_drift_and_exits_1(tmp_path: Path, dsn: str) -> None:
    flow_file = write(tmp_path, "orders.yaml", ORDER)
    code, stdout, _ = run("compile", str(flow_file), "--check", "--dsn", dsn)
    assert (code, stdout) == (1, f"orders ({flow_file}): not in the database\n")

    code, migration, _ = run("compile", str(flow_file), "--stdout")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(migration)
    code, stdout, _ = run("compile", str(flow_file), "--check", "--dsn", dsn)
    assert (code, stdout) == (0, f"orders ({flow_file}): up to date\n")

    write(
        tmp_path,
        "orders.yaml",
        ORDER.replace("max_attempts: 3", "max_attempts: 4").replace("timeout: 30", "base_delay: 2"),
    )
    code, stdout, stderr = run("compile", str(flow_file), "--check", "--dsn", dsn)
    assert code == 1
    assert stdout.splitlines() == [
        f"orders ({flow_file}): differs (database vs file)",
        "  options: max_attempts 3 vs 4",
        "  step 1 (charge) options: base_delay (inherited) vs 2",
        "  step 1 (charge) options: timeout 30 vs (inherited)",
    ]
    assert "1 of 1 flows differ from the database" in stderr

    write(tmp_path, "orders.yaml", ORDER.replace("map: check", "depends_on: [charge]"))
    code, stdout, _ = run("compile", str(flow_file), "--check", "--dsn", dsn)
    assert code == 1
    assert stdout.splitlines() == [
        f"orders ({flow_file}): differs (database vs file)",
        "  step 2 (ship): step_type map vs single",
        "  step 2 (ship): depends_on [check] vs [charge]",
    ]


def test_check_without_the_core_exits_2(tmp_path: Path, empty_dsn: str) -> None:
    flow_file = write(tmp_path, "orders.yaml", ORDER)
    code, _, stderr = run("compile", str(flow_file), "--check", "--dsn", empty_dsn)
    assert code == 2
    assert "no pgflow.compare_flow_shape" in stderr


def test_check_unreachable_database_exits_2_without_the_password(tmp_path: Path) -> None:
    flow_file = write(tmp_path, "orders.yaml", ORDER)
    dsn = "postgresql://someone:s3cret@127.0.0.1:1/nowhere?connect_timeout=2"
    code, _, stderr = run("compile", str(flow_file), "--check", "--dsn", dsn)
    assert code == 2
    assert stderr == (
        'error: cannot connect to 127.0.0.1:1, database "nowhere", user "someone":'
        " Connection refused\n"
    )


def test_graph_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    code, stdout, _ = run("graph", "flows_examples/order_pipeline.yaml")
    assert code == 0
    assert stdout.splitlines() == [
        "order_pipeline (4 steps)",
        "  level 0",
        "      0  check             <- run input",
        "  level 1",
        "      1  charge            <- check",
        "      2  ship_item  [map]  <- map over check",
        "  level 2",
        '      3  receipt           <- charge, ship_item  (if {"charge":{"paid":true}}, else skip)',
    ]


@pytest.mark.parametrize(
    ("fmt", "start"), [("mermaid", "flowchart TD\n"), ("dot", 'digraph "word_stats" {\n')]
)
def test_graph_formats(monkeypatch: pytest.MonkeyPatch, fmt: str, start: str) -> None:
    monkeypatch.chdir(REPO)
    code, stdout, _ = run("graph", "flows_examples/word_stats.toml", "--format", fmt)
    assert code == 0
    assert stdout.startswith(start)
    assert "map" in stdout


def test_graph_invalid_file_exits_1(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", ORDER.replace("map: check", "map: nowhere"))
    code, stdout, stderr = run("graph", str(bad))
    assert code == 1
    assert stdout == ""
    assert "nowhere" in stderr


def test_unchanged_flow_adds_no_file_and_a_change_adds_one(tmp_path: Path) -> None:
    flow_file = write(tmp_path, "orders.yaml", ORDER)
    out = tmp_path / "migrations"
    code, stdout, _ = run(
        "compile", str(flow_file), "--out-dir", str(out), "--timestamp", TIMESTAMP
    )
    first = out / f"{TIMESTAMP}_create_orders_flow.sql"
    assert (code, stdout) == (0, f"wrote {first}\n")

    code, stdout, _ = run("compile", str(flow_file), "--out-dir", str(out))
    assert (code, stdout) == (0, f"unchanged {first}\n")
    assert [p.name for p in out.iterdir()] == [first.name]

    write(tmp_path, "orders.yaml", ORDER.replace("timeout: 30", "timeout: 40"))
    later = "20260102000000"
    code, stdout, _ = run("compile", str(flow_file), "--out-dir", str(out), "--timestamp", later)
    second = out / f"{later}_create_orders_flow.sql"
    assert (code, stdout) == (0, f"wrote {second}\n")
    assert "timeout => 40" in second.read_text(encoding="utf-8")
    assert "timeout => 30" in first.read_text(encoding="utf-8")


def test_latest_migration_matches_the_exact_slug(tmp_path: Path) -> None:
    for name in ("20260101000000_create_a_flow.sql", "20260301000000_create_b_create_a_flow.sql"):
        (tmp_path / name).write_text("-- x\n", encoding="utf-8")
    assert latest_migration(tmp_path, "a") == tmp_path / "20260101000000_create_a_flow.sql"
    assert latest_migration(tmp_path, "c") is None
    assert latest_migration(tmp_path / "missing", "a") is None


def test_invalid_file_reported_as_github_annotations(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", ORDER.replace("map: check", "map: nowhere"))
    code, stdout, stderr = run("compile", str(bad), "--format", "github", "--stdout")
    assert code == 1
    assert stdout.startswith(f"::error file={bad},line=")
    assert "select pgflow" not in stdout
    assert stderr == validate_paths([bad]).summary() + "\n"
