"""The pgflow 0.8.1 harness itself: what it installs and how it fails when it cannot fetch."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.compat import pgflow081


def test_reference_database_holds_the_081_core_not_ours(pgflow081_dsn: str) -> None:
    with psycopg.connect(pgflow081_dsn, autocommit=True) as conn:
        found = conn.execute(
            "select to_regprocedure('pgflow.start_tasks(text, bigint[], uuid)') is not null,"
            " to_regproc('pgflow.claim_tasks') is null,"
            " to_regclass('pgflow.installed_versions') is null,"
            " to_regprocedure('realtime.send(jsonb, text, text, boolean)') is not null"
        ).fetchone()
        no_output = conn.execute(
            "select count(*) from information_schema.columns"
            " where table_schema = 'pgflow' and table_name = 'step_states'"
            " and column_name = 'output'"
        ).fetchone()
    assert found == (True, True, True, True)
    assert no_output == (0,)


def test_create_extension_line_is_cut(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text(
        '-- Create extension "pgmq"\nCREATE EXTENSION IF NOT EXISTS "pgmq" WITH SCHEMA "pgmq";\n'
        "create table t (x int);\n"
    )
    (tmp_path / "0000_b.sql").write_text("select 1;\n")
    files = pgflow081.migration_sql(tmp_path)
    assert [name for name, _ in files] == ["0000_b.sql", "0001_a.sql"]
    assert "CREATE EXTENSION" not in files[1][1]
    assert "create table t (x int);" in files[1][1]


def test_missing_npm_is_a_clear_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgflow081.shutil, "which", lambda name: None)
    with pytest.raises(pgflow081.HarnessUnavailable, match="npm is not installed"):
        pgflow081.fetch_core(cache_dir=tmp_path)


def test_cached_package_is_reused_without_npm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrations = tmp_path / "pgflow-core-0.8.1" / pgflow081.MIGRATIONS_IN_PACKAGE
    migrations.mkdir(parents=True)
    monkeypatch.setattr(pgflow081.shutil, "which", lambda name: None)
    assert pgflow081.fetch_core(cache_dir=tmp_path) == migrations
