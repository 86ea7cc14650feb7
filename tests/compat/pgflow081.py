"""The published pgflow 0.8.1 core, installed on plain PostgreSQL, as a reference to test against.

``npm pack @pgflow/core@0.8.1`` fetches the package once into ``.pgflow/cache/`` (never
committed); its migrations run in file order after pgmq is installed from the ``pgmq`` PyPI
package's SQL, with the ``create extension pgmq`` line skipped and a no-op ``realtime.send``
standing in for Supabase Realtime.

Engineers import it from their own tests::

    from tests.compat.pgflow081 import HarnessUnavailable, reference_database

    try:
        with reference_database(server_url) as ref_dsn:
            ...  # a fresh database holding the real pgflow 0.8.1 core
    except HarnessUnavailable as exc:
        pytest.skip(str(exc))

or take the pytest fixtures (a session template, cloned per test; skipped with the reason when
npm is missing or the registry cannot be reached) into your folder's conftest.py::

    from tests.compat.pgflow081 import pgflow081_dsn, pgflow081_template  # noqa: F401

    def test_something(pgflow081_dsn: str) -> None: ...
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgflow_yaml import core

REPO = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO / ".pgflow" / "cache"
VERSION = "0.8.1"
PACKAGE = "@pgflow/core"
MIGRATIONS_IN_PACKAGE = Path("package/dist/supabase/migrations")

_CREATE_PGMQ = re.compile(r'^\s*create\s+extension\s+if\s+not\s+exists\s+"?pgmq"?.*$', re.I | re.M)
_counter = itertools.count()

REALTIME_STUB = """
create schema if not exists realtime;
create or replace function realtime.send(
  payload jsonb, event text, topic text, private boolean default true
) returns void language sql as $$ select $$;
"""


class HarnessUnavailable(Exception):
    """The pgflow 0.8.1 reference core cannot be fetched here (the message says why)."""


def fetch_core(version: str = VERSION, cache_dir: Path = CACHE_DIR) -> Path:
    """Return the folder of pgflow core ``version``'s migrations, fetching it with npm once.

    Raises:
        HarnessUnavailable: npm is not installed, or ``npm pack`` failed (offline registry).
    """
    target = cache_dir / f"pgflow-core-{version}"
    migrations = target / MIGRATIONS_IN_PACKAGE
    if migrations.is_dir():
        return migrations
    npm = shutil.which("npm")
    if npm is None:
        raise HarnessUnavailable(
            f"npm is not installed: cannot fetch {PACKAGE}@{version} (apt-get install npm)"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        try:
            done = subprocess.run(
                [npm, "pack", f"{PACKAGE}@{version}", "--silent"],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise HarnessUnavailable(f"npm pack {PACKAGE}@{version} timed out") from None
        tarballs = list(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or len(tarballs) != 1:
            reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no tarball"]
            raise HarnessUnavailable(f"npm pack {PACKAGE}@{version} failed: {reason[0]}")
        unpacked = Path(tmp) / "unpacked"
        with tarfile.open(tarballs[0]) as tar:
            tar.extractall(unpacked, filter="data")
        if not (unpacked / MIGRATIONS_IN_PACKAGE).is_dir():
            raise HarnessUnavailable(f"{PACKAGE}@{version} holds no {MIGRATIONS_IN_PACKAGE}")
        try:
            os.replace(unpacked, target)  # atomic: concurrent fetchers leave one copy
        except OSError:
            if not migrations.is_dir():
                raise
    return migrations


def migration_sql(migrations: Path) -> list[tuple[str, str]]:
    """Return ``(file name, SQL)`` of every migration in order, ``create extension pgmq`` cut."""
    files = sorted(migrations.glob("*.sql"))
    return [
        (f.name, _CREATE_PGMQ.sub("-- (pgmq installed beforehand)", f.read_text())) for f in files
    ]


def install_reference_core(conn: psycopg.Connection[Any], migrations: Path) -> None:
    """Install pgmq (PyPI SQL), a no-op ``realtime.send`` and the pgflow 0.8.1 migrations."""
    core.install_pgmq(conn)
    with conn.transaction():
        conn.execute(REALTIME_STUB)
        for name, text in migration_sql(migrations):
            try:
                conn.execute(text)
            except psycopg.Error as exc:
                raise RuntimeError(f"pgflow {VERSION} migration {name} failed: {exc}") from exc


def _with_dbname(url: str, dbname: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo("", **params)


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    """Create database ``name`` (optionally from a template) and return its DSN."""
    with psycopg.connect(server_url, autocommit=True) as admin:
        query = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            query += sql.SQL(" template {}").format(sql.Identifier(template))
        admin.execute(query)
    return _with_dbname(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name`` (one this harness created)."""
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


def build_reference_template(server_url: str) -> str:
    """Create a database holding the pgflow 0.8.1 core; return its name (to clone from).

    Raises:
        HarnessUnavailable: the package cannot be fetched.
    """
    migrations = fetch_core()
    name = f"pgflow081_tpl_{os.getpid()}_{next(_counter)}"
    url = create_database(server_url, name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            install_reference_core(conn, migrations)
    except BaseException:
        drop_database(server_url, name)
        raise
    return name


@contextmanager
def reference_database(server_url: str, template: str | None = None) -> Iterator[str]:
    """Yield the DSN of a fresh database holding the real pgflow 0.8.1 core; drop it after.

    Raises:
        HarnessUnavailable: the package cannot be fetched.
    """
    own_template = template is None
    template = template or build_reference_template(server_url)
    name = f"pgflow081_{os.getpid()}_{next(_counter)}"
    try:
        url = create_database(server_url, name, template=template)
        try:
            yield url
        finally:
            drop_database(server_url, name)
    finally:
        if own_template:
            drop_database(server_url, template)


@pytest.fixture(scope="session")
def pgflow081_template(pg_server_url: str) -> Iterator[str]:
    """Build, once per session, a template database holding the pgflow 0.8.1 core."""
    try:
        name = build_reference_template(pg_server_url)
    except HarnessUnavailable as exc:
        pytest.skip(f"pgflow 0.8.1 reference core unavailable: {exc}")
    yield name
    drop_database(pg_server_url, name)


@pytest.fixture
def pgflow081_dsn(pg_server_url: str, pgflow081_template: str) -> Iterator[str]:
    """Return the DSN of a fresh database holding the real pgflow 0.8.1 core."""
    with reference_database(pg_server_url, template=pgflow081_template) as url:
        yield url
