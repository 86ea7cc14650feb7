"""Install, upgrade and print the SQL of pgmq and the pgflow-yaml core.

The core is every numbered file of ``sql/`` in name order. A database records what it holds in
``pgflow.installed_versions``; ``install`` reads that record under an advisory lock and then runs
one of three scripts, in one transaction:

- nothing installed: pgmq (guarded), every core file, the version record;
- an older version: the migrations ``sql/migrations/<from>__<to>.sql`` chained from the recorded
  version to this package's (they hold only DDL: new columns, dropped or re-typed functions),
  then every function file of ``sql/`` again (each is ``create or replace``), the re-runnable
  privilege files (``sql/095x``-``099x``), the version record, and the role grants again when
  the database had them;
- this version: nothing.

``--roles`` appends the files of ``sql/roles/`` (re-runnable). ``render_install_sql`` and
``render_upgrade_sql`` return the exact text that ``install`` executes, so ``pgflow install
--print`` gives teams the same SQL for their own migration tool.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from typing import Any, Literal

import psycopg

from pgflow_yaml import __version__
from pgflow_yaml.errors import CoreVersionMismatch
from pgflow_yaml.errors import InstallError as InstallError
from pgflow_yaml.resources import sql_dir

CORE_VERSION = __version__
INSTALL_LOCK = 7_342_001  # advisory lock key serialising installs (pgmq's SQL is not re-runnable)
REAPPLIED_FROM = "0950"  # core files numbered from here are re-run after every upgrade
_FUNCTION_FILE = re.compile(r"^\d{4}_function_")  # also re-run after every upgrade

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_MIGRATION = re.compile(r"^(?P<src>\d+\.\d+\.\d+)__(?P<dst>\d+\.\d+\.\d+)\.sql$")
_NUMBERED = re.compile(r"^\d{4}_[^/]+\.sql$")


Version = tuple[int, int, int]


def parse_version(text: str) -> Version:
    """Return ``"1.2.3"`` as ``(1, 2, 3)``.

    Raises:
        InstallError: the text is not three dot-separated integers.
    """
    match = _VERSION.match(text.strip())
    if not match:
        raise InstallError(f"not a version number: {text!r} (expected MAJOR.MINOR.PATCH)")
    return (int(match[1]), int(match[2]), int(match[3]))


@dataclass(frozen=True)
class Migration:
    """One upgrade file: ``sql/migrations/<source>__<target>.sql``."""

    source: str
    target: str
    name: str
    sql: str


@dataclass(frozen=True)
class InstallResult:
    """What ``install`` did: ``installed``, ``upgraded`` or ``unchanged`` (roles applied or not)."""

    action: Literal["installed", "upgraded", "unchanged"]
    version: str
    previous_version: str | None
    roles: bool


def _sql_files(folder: Traversable) -> list[Traversable]:
    if not folder.is_dir():
        return []
    return sorted(
        (f for f in folder.iterdir() if f.is_file() and f.name.endswith(".sql")),
        key=lambda f: f.name,
    )


def _numbered_files(folder: Traversable) -> list[Traversable]:
    files = _sql_files(folder)
    bad = [f.name for f in files if not _NUMBERED.match(f.name)]
    if bad:
        raise InstallError(f"SQL files must be named NNNN_what.sql: {', '.join(bad)} in {folder}")
    return files


def _concat(files: list[Traversable]) -> str:
    return "".join(
        f"-- file: {f.name}\n{f.read_text(encoding='utf-8').rstrip()}\n\n" for f in files
    )


def core_sql(folder: Traversable | None = None) -> str:
    """Return the SQL core: every numbered file of ``sql/`` in name order, concatenated."""
    return _concat(_numbered_files(folder or sql_dir()))


def is_reapplied(name: str) -> bool:
    """Return whether every upgrade re-runs core file ``name`` (functions and privileges)."""
    return bool(_FUNCTION_FILE.match(name)) or name[:4] >= REAPPLIED_FROM


def reapplied_sql(folder: Traversable | None = None) -> str:
    """Return the core files that every upgrade re-runs, in name order.

    Every function file (``NNNN_function_*.sql``, each ``create or replace``) and the privilege
    files (``sql/0950`` onwards): a migration then holds only what cannot be re-run (tables,
    columns, types, and the drop of a function whose signature or return type changed).
    """
    files = _numbered_files(folder or sql_dir())
    return _concat([f for f in files if is_reapplied(f.name)])


def roles_sql(folder: Traversable | None = None) -> str:
    """Return the SQL creating the ``pgflow_worker`` and ``pgflow_client`` roles and grants.

    Raises:
        InstallError: ``sql/roles/`` is missing from this installation of the package.
    """
    files = _numbered_files((folder or sql_dir()).joinpath("roles"))
    if not files:
        raise InstallError("the role files (sql/roles/*.sql) are missing from this installation")
    return _concat(files)


def migrations(folder: Traversable | None = None) -> list[Migration]:
    """Return every upgrade file of ``sql/migrations/``, sorted by source version.

    Raises:
        InstallError: a file is misnamed or does not go to a later version.
    """
    found = []
    for f in _sql_files((folder or sql_dir()).joinpath("migrations")):
        match = _MIGRATION.match(f.name)
        if not match:
            raise InstallError(f"migration files must be named <from>__<to>.sql: {f.name}")
        if parse_version(match["dst"]) <= parse_version(match["src"]):
            raise InstallError(f"migration {f.name} does not go to a later version")
        found.append(Migration(match["src"], match["dst"], f.name, f.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: parse_version(m.source))


def plan_upgrade(source: str, target: str, available: list[Migration]) -> list[Migration]:
    """Return the chain of migrations leading from version ``source`` to version ``target``.

    Raises:
        InstallError: ``source`` is newer than ``target``, or no chain of files joins them.
    """
    if parse_version(source) > parse_version(target):
        raise CoreVersionMismatch(
            f"the database holds pgflow-yaml core {source}, newer than this package ({target}):"
            " upgrade pgflow-yaml instead"
        )
    chain: list[Migration] = []
    current = source
    while current != target:
        steps = [m for m in available if m.source == current]
        if len(steps) != 1:
            listed = ", ".join(m.name for m in available) or "none"
            problem = "no migration" if not steps else "more than one migration"
            raise InstallError(
                f"{problem} starts at {current} on the way from {source} to {target}"
                f" (sql/migrations/ holds: {listed})"
            )
        step = steps[0]
        if parse_version(step.target) > parse_version(target):
            raise InstallError(f"migration {step.name} goes past {target}")
        chain.append(step)
        current = step.target
    return chain


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _pgmq_bundled_sql() -> str:
    from pgmq.install import get_embedded_install_sql

    sql: str = get_embedded_install_sql()
    return sql


def pgmq_sql() -> str:
    """Return a block installing pgmq unless schema ``pgmq`` exists.

    The server's extension is used when it has one, else the SQL bundled with the ``pgmq``
    package, which is not re-runnable: the schema check (under the install lock) guards it.
    """
    bundled = _pgmq_bundled_sql()
    tag = "$pgmq_bundled_sql$"
    if tag in bundled:
        raise InstallError("the pgmq package's SQL contains the quoting tag used to embed it")
    return (
        "-- pgmq: the server's extension when available, else the pgmq package's SQL\n"
        "do $pgflow_pgmq$\n"
        "begin\n"
        "  if to_regnamespace('pgmq') is not null then\n"
        "    return;\n"
        "  end if;\n"
        "  if exists (select 1 from pg_catalog.pg_available_extensions where name = 'pgmq') then\n"
        "    create extension pgmq;\n"
        "    return;\n"
        "  end if;\n"
        f"  execute {tag}\n{bundled.rstrip()}\n{tag};\n"
        "end\n"
        "$pgflow_pgmq$;\n\n"
    )


def _header(what: str) -> str:
    return (
        f"-- pgflow-yaml {CORE_VERSION}: {what}\n"
        "-- Generated by `pgflow install --print`; run it in one transaction"
        " (psql --single-transaction -f).\n"
        f"select pg_catalog.pg_advisory_xact_lock({INSTALL_LOCK});\n\n"
    )


def _record(version: str, previous: str | None) -> str:
    prev = "null" if previous is None else _quote(previous)
    return (
        "-- record the installed version\n"
        "insert into pgflow.installed_versions (version, previous_version)\n"
        f"values ({_quote(version)}, {prev});\n\n"
    )


def render_install_sql(*, roles: bool = False, folder: Traversable | None = None) -> str:
    """Return the SQL of a fresh install: pgmq (guarded), the core, the version record.

    The script refuses to run where schema ``pgflow`` already exists.
    """
    guard = (
        "do $pgflow_guard$\n"
        "begin\n"
        "  if to_regnamespace('pgflow') is not null then\n"
        "    raise exception 'schema pgflow already exists: this script installs"
        f" pgflow-yaml {CORE_VERSION} on a database without it'\n"
        "      using hint = 'use `pgflow install` (it upgrades) or `pgflow install --print"
        " --from <version>`';\n"
        "  end if;\n"
        "end\n"
        "$pgflow_guard$;\n\n"
    )
    parts = [_header("install pgmq and the core"), pgmq_sql(), guard, core_sql(folder)]
    parts.append(_record(CORE_VERSION, None))
    if roles:
        parts.append(roles_sql(folder))
    return "".join(parts)


def render_upgrade_sql(
    source: str,
    *,
    target: str = CORE_VERSION,
    roles: bool = False,
    folder: Traversable | None = None,
) -> str:
    """Return the SQL upgrading a database from core version ``source`` to ``target``.

    Raises:
        InstallError: no chain of migrations joins the two versions.
    """
    chain = plan_upgrade(source, target, migrations(folder))
    guard = (
        "do $pgflow_guard$\n"
        "declare\n"
        "  found text;\n"
        "begin\n"
        "  select v.version into found from pgflow.installed_versions as v\n"
        "  order by v.id desc limit 1;\n"
        f"  if found is distinct from {_quote(source)} then\n"
        f"    raise exception 'this script upgrades pgflow-yaml core {source} to {target},"
        " but the database holds %', coalesce(found, 'nothing');\n"
        "  end if;\n"
        "end\n"
        "$pgflow_guard$;\n\n"
    )
    parts = [_header(f"upgrade the core from {source} to {target}"), guard]
    parts += [f"-- migration: {m.name}\n{m.sql.rstrip()}\n\n" for m in chain]
    parts.append(reapplied_sql(folder))
    parts.append(_record(target, source))
    if roles:
        parts.append(roles_sql(folder))
    return "".join(parts)


def installed_version(conn: psycopg.Connection[Any]) -> str | None:
    """Return the core version recorded in the database, or None when no core is installed.

    Raises:
        CoreVersionMismatch: schema ``pgflow`` exists without a pgflow-yaml version record (a
            pgflow install of its own, or objects created by hand).
        InstallError: the version record is empty (an interrupted install).
    """
    row = conn.execute(
        "select to_regnamespace('pgflow') is not null,"
        " to_regclass('pgflow.installed_versions') is not null"
    ).fetchone()
    assert row is not None
    has_schema, has_table = row
    if not has_schema:
        return None
    if not has_table:
        raise CoreVersionMismatch(
            "schema pgflow exists but holds no pgflow-yaml version record"
            " (pgflow.installed_versions): it was created by another tool or by hand;"
            " install into another database, or drop schema pgflow first"
        )
    found = conn.execute(
        "select version from pgflow.installed_versions order by id desc limit 1"
    ).fetchone()
    if found is None:
        raise InstallError("pgflow.installed_versions is empty: the install was interrupted")
    version: str = found[0]
    return version


def install_pgmq(conn: psycopg.Connection[Any]) -> None:
    """Install pgmq alone (guarded, idempotent), in one transaction."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (INSTALL_LOCK,))
        conn.execute(pgmq_sql())


def install(conn: psycopg.Connection[Any], *, roles: bool = False) -> InstallResult:
    """Install or upgrade pgmq and the SQL core in one transaction, idempotently.

    Args:
        conn: a connection with the rights to create schemas (and roles, with ``roles``).
        roles: also create the ``pgflow_worker`` and ``pgflow_client`` roles and their grants.

    Raises:
        InstallError: the database holds a newer version, a foreign ``pgflow`` schema, or a
            version no migration chain starts from.
    """
    search_path = conn.execute("select current_setting('search_path')").fetchone()
    try:
        return _install(conn, roles=roles)
    finally:
        if search_path is not None and not conn.closed:  # core files may set it for the session
            conn.execute("select set_config('search_path', %s, false)", (search_path[0],))


def _install(conn: psycopg.Connection[Any], *, roles: bool) -> InstallResult:
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (INSTALL_LOCK,))
        found = installed_version(conn)
        if found is None:
            conn.execute(render_install_sql(roles=roles))
            return InstallResult("installed", CORE_VERSION, None, roles)
        if found == CORE_VERSION:
            if roles:
                conn.execute(roles_sql())
            return InstallResult("unchanged", CORE_VERSION, found, roles)
        roles = roles or _roles_granted(conn)  # new functions of the upgrade need their grants
        conn.execute(render_upgrade_sql(found, roles=roles))
        return InstallResult("upgraded", CORE_VERSION, found, roles)


def _roles_granted(conn: psycopg.Connection[Any]) -> bool:
    """Return whether ``--roles`` was applied to this database before."""
    row = conn.execute(
        "select case when exists (select 1 from pg_catalog.pg_roles"
        " where rolname = 'pgflow_worker')"
        " then has_schema_privilege('pgflow_worker', 'pgflow', 'usage') else false end"
    ).fetchone()
    return bool(row and row[0])
