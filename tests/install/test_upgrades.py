"""Upgrades: a fresh install and an older release plus ``sql/migrations/`` give the same schema.

``tests/install/releases/<version>.sql`` holds the frozen core SQL of each release (written by
``freeze_release.py``). For every released snapshot the test installs it, records its version,
lets ``core.install`` chain the migrations, and compares the catalog with a fresh install.
The mechanism itself is also proven on the live core split into an older "release" (the first
files) and a migration (the rest), so a broken chain or a forgotten re-grant shows up even
before the first upgrade ships.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgflow_yaml import core
from pgflow_yaml.resources import sql_dir
from tests.install.catalog import catalog_snapshot, differences
from tests.install.freeze_release import RELEASED_MARK, RELEASES

SNAPSHOTS = sorted(RELEASES.glob("*.sql"), key=lambda p: core.parse_version(p.stem))


def _record(conn: psycopg.Connection[Any], version: str) -> None:
    conn.execute("insert into pgflow.installed_versions (version) values (%s)", (version,))


@pytest.fixture
def fresh_catalog(dsn: str) -> dict[str, Any]:
    """Return the catalog of a fresh install of the current core."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return catalog_snapshot(conn)


@pytest.mark.parametrize("snapshot", SNAPSHOTS, ids=[p.stem for p in SNAPSHOTS])
def test_release_plus_migrations_equals_fresh_install(
    snapshot: Path, empty_dsn: str, fresh_catalog: dict[str, Any]
) -> None:
    text = snapshot.read_text(encoding="utf-8")
    if RELEASED_MARK not in text and snapshot.stem == core.CORE_VERSION:
        pytest.skip(
            f"{snapshot.name} is a candidate of the unreleased {core.CORE_VERSION}: when tagging"
            " it, run `python tests/install/freeze_release.py --release`"
        )
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        core.install_pgmq(conn)
        with conn.transaction():
            conn.execute(text)
            _record(conn, snapshot.stem)
        result = core.install(conn)
        expected = "unchanged" if snapshot.stem == core.CORE_VERSION else "upgraded"
        assert result.action == expected
        assert core.installed_version(conn) == core.CORE_VERSION
        found = differences(catalog_snapshot(conn), fresh_catalog)
    assert found == [], (
        f"release {snapshot.stem} + sql/migrations/ differs from a fresh install"
        f" (first is the upgraded database):\n" + "\n".join(found)
    )


def _split_core(tmp_path: Path, first: str, older: str, newer: str) -> Path:
    """Copy sql/ into tmp_path; the files before ``first`` form release ``older``.

    The migration holds only the DDL files numbered from ``first`` (tables, types), as a real
    migration does: the functions numbered from there come from re-applying their files.
    """
    folder = tmp_path / "sql"
    shutil.copytree(Path(str(sql_dir())), folder)
    numbered = sorted(p for p in folder.glob("*.sql"))
    late = [
        p for p in numbered if first <= p.name[:4] < core.REAPPLIED_FROM and p.name[:4] != "0900"
    ]
    assert late, f"no core file numbered from {first}: nothing to migrate"
    migration = "".join(
        f"-- from {p.name}\n{p.read_text()}\n" for p in late if not core.is_reapplied(p.name)
    )
    assert migration, f"no DDL file numbered from {first}: the split proves nothing"
    (folder / "migrations").mkdir(exist_ok=True)
    for old in (folder / "migrations").glob("*.sql"):
        old.unlink()
    (folder / "migrations" / f"{older}__{newer}.sql").write_text(migration)
    (folder / "older").mkdir()
    for p in numbered:
        if p not in late:
            shutil.copy(p, folder / "older" / p.name)
    return folder


def test_upgrade_chain_rebuilds_the_fresh_schema(
    tmp_path: Path, empty_dsn: str, fresh_catalog: dict[str, Any]
) -> None:
    folder = _split_core(tmp_path, "0070", "0.0.9", core.CORE_VERSION)
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        core.install_pgmq(conn)
        with conn.transaction():
            conn.execute(core.core_sql(folder / "older"))
            _record(conn, "0.0.9")
        assert differences(catalog_snapshot(conn), fresh_catalog) != []
        upgrade = core.render_upgrade_sql("0.0.9", folder=folder)
        with conn.transaction():
            conn.execute(upgrade)
        assert core.installed_version(conn) == core.CORE_VERSION
        previous = conn.execute(
            "select previous_version from pgflow.installed_versions order by id desc limit 1"
        ).fetchone()
        assert previous == ("0.0.9",)
        found = differences(catalog_snapshot(conn), fresh_catalog)
    assert found == [], "\n".join(found)


def test_upgrade_script_refuses_another_starting_version(
    tmp_path: Path, conn: psycopg.Connection[Any]
) -> None:
    folder = _split_core(tmp_path, "0070", "0.0.9", core.CORE_VERSION)
    upgrade = core.render_upgrade_sql("0.0.9", folder=folder)
    message = f"upgrades pgflow-yaml core 0.0.9 to {core.CORE_VERSION}, but the database holds"
    with pytest.raises(psycopg.errors.RaiseException, match=message):
        conn.execute(upgrade)


def _m(source: str, target: str) -> core.Migration:
    return core.Migration(source, target, f"{source}__{target}.sql", "select 1;")


def test_plan_chains_migrations_in_order() -> None:
    available = [_m("0.2.0", "0.3.0"), _m("0.1.0", "0.1.1"), _m("0.1.1", "0.2.0")]
    chain = core.plan_upgrade("0.1.0", "0.3.0", available)
    assert [m.name for m in chain] == ["0.1.0__0.1.1.sql", "0.1.1__0.2.0.sql", "0.2.0__0.3.0.sql"]


def test_plan_names_the_missing_link() -> None:
    with pytest.raises(core.InstallError, match=r"no migration starts at 0\.1\.1 on the way"):
        core.plan_upgrade("0.1.0", "0.3.0", [_m("0.1.0", "0.1.1"), _m("0.2.0", "0.3.0")])


def test_plan_refuses_two_ways_out_of_a_version() -> None:
    with pytest.raises(core.InstallError, match=r"more than one migration starts at 0\.1\.0"):
        core.plan_upgrade("0.1.0", "0.3.0", [_m("0.1.0", "0.2.0"), _m("0.1.0", "0.3.0")])


def test_plan_refuses_to_overshoot() -> None:
    with pytest.raises(core.InstallError, match=r"0\.1\.0__0\.4\.0\.sql goes past 0\.3\.0"):
        core.plan_upgrade("0.1.0", "0.3.0", [_m("0.1.0", "0.4.0")])


def test_plan_from_the_same_version_is_empty() -> None:
    assert core.plan_upgrade("0.3.0", "0.3.0", [_m("0.1.0", "0.3.0")]) == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("0.1.0-0.2.0.sql", "must be named <from>__<to>.sql"),
        ("0.2.0__0.1.0.sql", "does not go to a later version"),
    ],
)
def test_misnamed_migration_files_are_refused(tmp_path: Path, name: str, message: str) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / name).write_text("select 1;")
    with pytest.raises(core.InstallError, match=message):
        core.migrations(tmp_path)  # type: ignore[arg-type]


def test_upgrade_grants_new_functions_to_roles_already_in_use(
    tmp_path: Path, empty_dsn: str
) -> None:
    folder = _split_core(tmp_path, "0070", "0.0.9", core.CORE_VERSION)
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        core.install_pgmq(conn)
        with conn.transaction():
            conn.execute(core.core_sql(folder / "older"))
            _record(conn, "0.0.9")
            conn.execute(core.roles_sql(folder))
        assert core._roles_granted(conn)
        with conn.transaction():
            conn.execute(core.render_upgrade_sql("0.0.9", roles=True, folder=folder))
        granted = conn.execute(
            "select has_function_privilege('pgflow_worker',"
            " 'pgflow.claim_tasks(text[], uuid, integer, integer)', 'execute'),"
            " has_function_privilege('pgflow_client',"
            " 'pgflow.start_flow(text, jsonb, uuid, text, int)', 'execute')"
        ).fetchone()
    assert granted == (True, True)


def test_roles_are_not_applied_where_never_asked(conn: psycopg.Connection[Any]) -> None:
    granted = conn.execute(
        "select case when exists (select 1 from pg_roles where rolname = 'pgflow_worker')"
        " then has_schema_privilege('pgflow_worker', 'pgflow', 'usage') else false end"
    ).fetchone()
    assert granted == (False,)
    assert core._roles_granted(conn) is False


def test_missing_role_files_are_an_error_not_a_silent_no_op(tmp_path: Path) -> None:
    with pytest.raises(core.InstallError, match=r"sql/roles/\*\.sql\) are missing"):
        core.roles_sql(tmp_path)  # type: ignore[arg-type]
