"""``pgflow install --roles``: pgflow_client may call start_flows; PUBLIC and the worker may not.

Follows tests/install/test_roles.py: a login user per test, member of one role (or of none),
dropped afterwards; the NOLOGIN roles are cluster-wide and shared, so they are never dropped.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from pgflow_yaml import core

_START_FLOWS = "pgflow.start_flows(text, jsonb, uuid[], text[], int)"


@pytest.fixture
def roles_dsn(dsn: str) -> str:
    """Return a database with the core and its roles installed and one flow."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        core.install(conn, roles=True)
        conn.execute("select pgflow.create_flow('batch')")
        conn.execute("select pgflow.add_step('batch', 'only')")
    return dsn


def test_client_may_execute_start_flows_and_public_may_not(roles_dsn: str) -> None:
    with psycopg.connect(roles_dsn, autocommit=True) as conn:
        granted = conn.execute(
            "select has_function_privilege('pgflow_client', %s, 'execute'),"
            " has_function_privilege('pgflow_worker', %s, 'execute'),"
            " p.prosecdef, p.proacl is not null"
            " and not exists (select 1 from aclexplode(p.proacl) a where a.grantee = 0)"
            " from pg_proc p where p.oid = %s::regprocedure",
            (_START_FLOWS, _START_FLOWS, _START_FLOWS),
        ).fetchone()
    # client yes, worker no, runs as its owner, nothing for PUBLIC
    assert granted == (True, False, True, True)


def test_client_starts_a_batch_of_runs(roles_dsn: str, login: Any) -> None:
    client = login("pgflow_client")
    run_ids = [uuid.uuid4(), uuid.uuid4()]
    started = client.execute(
        "select run_id, status, input from pgflow.start_flows('batch', %s, %s)",
        (Jsonb([{"n": 1}, {"n": 2}]), run_ids),
    ).fetchall()
    assert started == [
        (run_ids[0], "started", {"n": 1}),
        (run_ids[1], "started", {"n": 2}),
    ]
    with psycopg.connect(roles_dsn, autocommit=True) as conn:
        queued = conn.execute("select count(*) from pgflow.step_tasks").fetchone()
    assert queued == (2,)


def test_worker_is_denied_start_flows(roles_dsn: str, login: Any) -> None:
    worker = login("pgflow_worker")
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
        worker.execute("select * from pgflow.start_flows('batch', '[{}]'::jsonb)")
    assert "permission denied for function start_flows" in str(caught.value)


def test_user_without_a_role_is_denied_start_flows(roles_dsn: str, login: Any) -> None:
    nobody = login(None)
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
        nobody.execute("select * from pgflow.start_flows('batch', '[{}]'::jsonb)")
    assert "permission denied for schema pgflow" in str(caught.value)
