"""``pgflow install``: one transaction, idempotent, version recorded, same SQL as ``--print``."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from typer.testing import CliRunner

from pgflow_yaml import core
from pgflow_yaml.cli import app
from tests.install.catalog import catalog_snapshot, differences


def _versions(conn: psycopg.Connection[Any]) -> list[tuple[str, str | None]]:
    rows = conn.execute(
        "select version, previous_version from pgflow.installed_versions order by id"
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def test_fresh_install_records_the_version(empty_dsn: str) -> None:
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        result = core.install(conn)
        assert result == core.InstallResult("installed", core.CORE_VERSION, None, False)
        assert _versions(conn) == [(core.CORE_VERSION, None)]
        assert core.installed_version(conn) == core.CORE_VERSION
        by = conn.execute("select installed_by from pgflow.installed_versions").fetchone()
        assert by == ("postgres",)


def test_second_install_changes_nothing(empty_dsn: str) -> None:
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        core.install(conn)
        before = catalog_snapshot(conn)
        result = core.install(conn)
        assert result.action == "unchanged"
        assert differences(before, catalog_snapshot(conn)) == []
        assert _versions(conn) == [(core.CORE_VERSION, None)]


def test_installs_racing_on_one_database_both_succeed(empty_dsn: str) -> None:
    results: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def install() -> None:
        try:
            with psycopg.connect(empty_dsn, autocommit=True) as conn:
                start.wait()
                results.append(core.install(conn).action)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=install) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == ["installed", "unchanged"]


def test_install_is_one_transaction(empty_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = core.core_sql() + "\nselect 1 / 0;\n"
    monkeypatch.setattr(core, "core_sql", lambda folder=None: broken)
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            core.install(conn)
        found = conn.execute(
            "select to_regnamespace('pgflow') is null, to_regnamespace('pgmq') is null"
        ).fetchone()
    assert found == (True, True)


def test_existing_pgmq_is_kept(empty_dsn: str) -> None:
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        core.install_pgmq(conn)
        conn.execute("select pgmq.create('already_here')")
        core.install(conn)
        queues = conn.execute("select queue_name from pgmq.list_queues()").fetchall()
    assert queues == [("already_here",)]


def test_printed_sql_builds_the_same_schema(empty_dsn: str, dsn: str) -> None:
    printed = CliRunner().invoke(app, ["install", "--print"])
    assert printed.exit_code == 0, printed.output
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        with conn.transaction():
            conn.execute(printed.stdout)
        assert _versions(conn) == [(core.CORE_VERSION, None)]
        from_print = catalog_snapshot(conn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        from_install = catalog_snapshot(conn)
    assert differences(from_print, from_install) == []


def test_printed_install_refuses_a_database_that_has_the_core(
    conn: psycopg.Connection[Any],
) -> None:
    with pytest.raises(psycopg.errors.RaiseException, match="schema pgflow already exists"):
        conn.execute(core.render_install_sql())


def test_foreign_pgflow_schema_is_refused(empty_dsn: str) -> None:
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("create schema pgflow")
        with pytest.raises(core.InstallError, match="holds no pgflow-yaml version record"):
            core.install(conn)


def test_newer_database_is_refused(conn: psycopg.Connection[Any]) -> None:
    conn.execute("insert into pgflow.installed_versions (version) values ('99.0.0')")
    with pytest.raises(core.InstallError, match=r"holds pgflow-yaml core 99\.0\.0, newer"):
        core.install(conn)


def test_cli_installs_then_reports_already_installed(empty_dsn: str) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["install", "--dsn", empty_dsn])
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == f"installed pgflow-yaml core {core.CORE_VERSION}"
    second = runner.invoke(app, ["install", "--dsn", empty_dsn])
    assert second.stdout.strip() == f"pgflow-yaml core {core.CORE_VERSION} already installed"


def test_cli_error_is_one_line_without_password(empty_dsn: str) -> None:
    params = conninfo_to_dict(empty_dsn)
    params.update(password="hunter2", dbname=f"{params['dbname']}_missing")
    result = subprocess.run(
        [sys.executable, "-m", "pgflow_yaml", "install", "--dsn", make_conninfo("", **params)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot connect to ")
    assert len(result.stderr.splitlines()) == 1
    assert f"{params['dbname']}" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_cli_from_without_print_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["install", "--from", "0.0.1"])
    assert result.exit_code == 2
    assert "--from only applies with --print" in result.output


def test_cli_print_from_unknown_version_names_the_gap() -> None:
    result = CliRunner().invoke(app, ["install", "--print", "--from", "0.0.1"])
    assert result.exit_code == 1
    assert f"no migration starts at 0.0.1 on the way from 0.0.1 to {core.CORE_VERSION}" in (
        result.output
    )


def test_cli_roles_reports_the_grants(dsn: str) -> None:
    result = CliRunner().invoke(app, ["install", "--dsn", dsn, "--roles"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        f"pgflow-yaml core {core.CORE_VERSION} already installed"
        " (roles pgflow_worker, pgflow_client granted)"
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        usage = conn.execute(
            "select has_schema_privilege('pgflow_worker', 'pgflow', 'usage'),"
            " has_schema_privilege('pgflow_client', 'pgflow', 'usage')"
        ).fetchone()
    assert usage == (True, True)


def test_printed_sql_with_roles_includes_the_grants() -> None:
    result = CliRunner().invoke(app, ["install", "--print", "--roles"])
    assert result.exit_code == 0
    assert "create role pgflow_worker nologin" in result.stdout
    assert "create role pgflow_client nologin" in result.stdout
    assert result.stdout.index("insert into pgflow.installed_versions") < result.stdout.index(
        "create role pgflow_worker"
    )


def test_every_core_file_has_a_number_of_its_own() -> None:
    # the install order is the order of the names: two files of one number leave it to the rest
    # of their names, which a rename would silently change
    names = [f.name for f in core._numbered_files(core.sql_dir())]
    numbers = [name[:4] for name in names]
    assert sorted({n for n in numbers if numbers.count(n) > 1}) == [], names
