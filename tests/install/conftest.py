"""Fixtures of the install tests that log in as members of the pgflow roles.

Login users are unique per test and dropped afterwards; the NOLOGIN roles ``pgflow_worker`` and
``pgflow_client`` are cluster-wide and shared, so they are never dropped. A test module gives
``roles_dsn`` (a database with the core and its roles) its own flows by overriding it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from pgflow_yaml import core

_counter = itertools.count()


@pytest.fixture
def roles_dsn(dsn: str) -> str:
    """Return a database with the core and its roles installed."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        core.install(conn, roles=True)
    return dsn


@pytest.fixture
def login(roles_dsn: str) -> Iterator[Any]:
    """Return a function creating a login user in a role (or none) and connecting as it."""
    created: list[str] = []
    conns: list[psycopg.Connection[Any]] = []

    def connect(role: str | None) -> psycopg.Connection[Any]:
        name = f"pgflow_u_{os.getpid()}_{next(_counter)}"
        with psycopg.connect(roles_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("create role {} login").format(sql.Identifier(name)))
            created.append(name)
            if role:
                admin.execute(
                    sql.SQL("grant {} to {}").format(sql.Identifier(role), sql.Identifier(name))
                )
        conn = psycopg.connect(make_conninfo(roles_dsn, user=name), autocommit=True)
        conns.append(conn)
        return conn

    yield connect
    for conn in conns:
        conn.close()
    with psycopg.connect(roles_dsn, autocommit=True) as admin:
        for name in created:
            admin.execute(sql.SQL("drop owned by {}").format(sql.Identifier(name)))
            admin.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))
