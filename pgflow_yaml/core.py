"""Install pgmq and the SQL core into a database."""

from __future__ import annotations

from typing import Any

import psycopg

from pgflow_yaml.resources import sql_dir

PGMQ_LOCK = 7_342_001  # advisory lock key guarding the non-re-runnable pgmq SQL install


def core_sql() -> str:
    """Return the SQL core: every numbered file of ``sql/`` in name order, concatenated."""
    files = sorted(
        (f for f in sql_dir().iterdir() if f.name.endswith(".sql")), key=lambda f: f.name
    )
    return "\n".join(f"-- file: {f.name}\n{f.read_text(encoding='utf-8')}" for f in files)


def _pgmq_sql() -> str:
    from pgmq.install import get_embedded_install_sql

    sql: str = get_embedded_install_sql()
    return sql


def install_pgmq(conn: psycopg.Connection[Any]) -> None:
    """Install pgmq: the server's extension when it has one, else the SQL bundled with ``pgmq``."""
    conn.execute("select pg_advisory_xact_lock(%s)", (PGMQ_LOCK,))
    if conn.execute("select 1 from pg_namespace where nspname = 'pgmq'").fetchone():
        return
    if conn.execute("select 1 from pg_available_extensions where name = 'pgmq'").fetchone():
        conn.execute("create extension if not exists pgmq")
        return
    conn.execute(_pgmq_sql())


def install(conn: psycopg.Connection[Any], *, roles: bool = False) -> None:
    """Install pgmq and the SQL core in one transaction, idempotently."""
    with conn.transaction():
        install_pgmq(conn)
        conn.execute(core_sql())
