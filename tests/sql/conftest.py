"""Fixtures of the SQL core tests: one database for the whole folder, reset after each test.

Creating and dropping a database per test costs 1-3 s on a busy machine; the SQL tests only
need a core with no flows, runs or queues, so they share one copy of the session template
and each test leaves it empty again (queues dropped, pgflow tables truncated).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

_RESET = """
select pgmq.drop_queue(q.queue_name) from pgmq.list_queues() q;
truncate pgflow.subflow_retries, pgflow.schedule_fires, pgflow.schedules,
  pgflow.pending_signals, pgflow.rate_starts, pgflow.step_tasks, pgflow.step_states, pgflow.runs,
  pgflow.deps, pgflow.steps, pgflow.flows, pgflow.workers;
"""


@pytest.fixture(scope="session")
def sql_core_dsn(pg_server_url: str, template_db: str) -> Iterator[str]:
    """Return the DSN of the database the SQL tests share (a copy of the template)."""
    name = f"pgflow_sql_{os.getpid()}"
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )
        admin.execute(
            sql.SQL("create database {} template {}").format(
                sql.Identifier(name), sql.Identifier(template_db)
            )
        )
    params = conninfo_to_dict(pg_server_url)
    params["dbname"] = name
    yield make_conninfo("", **params)
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


@pytest.fixture
def dsn(sql_core_dsn: str) -> Iterator[str]:
    """Return the DSN of a database with the core installed and nothing in it."""
    yield sql_core_dsn
    with psycopg.connect(sql_core_dsn, autocommit=True) as cleaner:
        cleaner.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity"
            " where datname = current_database() and pid <> pg_backend_pid()"
        )
        cleaner.execute(_RESET)


@pytest.fixture
def conn(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """Return an autocommit connection to the (empty) SQL test database."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        yield connection
