"""Shared fixtures: a real PostgreSQL for every test that needs one.

The server is ``PGFLOW_TEST_DATABASE_URL`` when set (CI points it at the machine's PostgreSQL),
else the embedded server of ``pgflow_yaml.embedded``. A template database with the core
installed is built once per test session; each test gets its own copy, dropped afterwards.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

REPO = Path(__file__).resolve().parent.parent
_counter = itertools.count()


def _with_dbname(url: str, dbname: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo("", **params)


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Return a DSN for a maintenance database on the test server."""
    url = os.environ.get("PGFLOW_TEST_DATABASE_URL")
    if url:
        return url
    from pgflow_yaml import embedded

    server = embedded.server_url(REPO / ".pgflow" / "test-server")
    _drop_databases_of_dead_sessions(server)
    return server


def _drop_databases_of_dead_sessions(server_url: str) -> None:
    """Drop what killed sessions left on the embedded test server (it is ours alone)."""
    with psycopg.connect(server_url, autocommit=True) as admin:
        names = admin.execute(
            "select datname from pg_database where datname ~ '^pgflow_(tpl|t|e)_[0-9]+'"
        ).fetchall()
        for (name,) in names:
            pid = int(name.split("_")[2])
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                admin.execute(
                    sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
                )
            except PermissionError:
                pass


def _create_db(server_url: str, name: str, template: str | None = None) -> str:
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )
        if template:
            admin.execute(
                sql.SQL("create database {} template {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        else:
            admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return _with_dbname(server_url, name)


def _drop_db(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def template_db(pg_server_url: str) -> Iterator[str]:
    """Build a database with pgmq and the core installed; return its name."""
    from pgflow_yaml import core

    name = f"pgflow_tpl_{os.getpid()}"
    url = _create_db(pg_server_url, name)
    with psycopg.connect(url, autocommit=True) as conn:
        core.install(conn)
    yield name
    _drop_db(pg_server_url, name)


@pytest.fixture
def empty_dsn(pg_server_url: str) -> Iterator[str]:
    """Return the DSN of a fresh, empty database (no pgmq, no core)."""
    name = f"pgflow_e_{os.getpid()}_{next(_counter)}"
    url = _create_db(pg_server_url, name)
    yield url
    _drop_db(pg_server_url, name)


@pytest.fixture
def dsn(pg_server_url: str, template_db: str) -> Iterator[str]:
    """Return the DSN of a fresh database with pgmq and the core installed."""
    name = f"pgflow_t_{os.getpid()}_{next(_counter)}"
    url = _create_db(pg_server_url, name, template=template_db)
    yield url
    _drop_db(pg_server_url, name)


@pytest.fixture
def conn(dsn: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """Return an autocommit connection to a fresh database with the core installed."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        yield connection
