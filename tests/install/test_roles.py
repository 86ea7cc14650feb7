"""``pgflow install --roles``: a worker role and a client role with only what they need.

Each test logs in as a user that is a member of one role (or of none) and proves what works
and what is denied. Login users are unique per test and dropped afterwards; the NOLOGIN roles
``pgflow_worker`` and ``pgflow_client`` are cluster-wide and shared, so they are never dropped.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from pgflow_yaml import core
from tests.install.roleplay import run_081_protocol


@pytest.fixture
def roles_dsn(dsn: str) -> str:
    """Return a database with the core, one flow made before the roles and one after."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select pgflow.create_flow('early')")
        conn.execute("select pgflow.add_step('early', 'only')")
        core.install(conn, roles=True)
        conn.execute("select pgflow.create_flow('late')")
        conn.execute("select pgflow.add_step('late', 'first')")
        conn.execute("select pgflow.add_step('late', 'second', array['first'])")
    return dsn


def _start(dsn: str, flow: str, run_input: Any = None) -> uuid.UUID:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "select run_id from pgflow.start_flow(%s, %s)", (flow, Jsonb(run_input or {}))
        ).fetchone()
    assert row is not None
    run_id: uuid.UUID = row[0]
    return run_id


def _denied(conn: psycopg.Connection[Any], query: str, params: Any = None) -> str:
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
        conn.execute(query, params)
    return str(caught.value)


def _status(dsn: str, run_id: uuid.UUID) -> dict[str, str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "select step_slug, status from pgflow.step_states where run_id = %s", (run_id,)
        ).fetchall()
    return dict(rows)


def test_roles_install_twice_is_harmless(roles_dsn: str) -> None:
    with psycopg.connect(roles_dsn, autocommit=True) as conn:
        result = core.install(conn, roles=True)
        assert result.action == "unchanged" and result.roles
        found = conn.execute(
            "select rolname, rolcanlogin from pg_roles"
            " where rolname in ('pgflow_worker', 'pgflow_client') order by rolname"
        ).fetchall()
    assert found == [("pgflow_client", False), ("pgflow_worker", False)]


def test_nothing_in_pgflow_is_granted_to_public(roles_dsn: str) -> None:
    with psycopg.connect(roles_dsn, autocommit=True) as conn:
        public_functions = conn.execute(
            "select p.oid::regprocedure::text from pg_proc p"
            " where p.pronamespace = 'pgflow'::regnamespace"
            " and (p.proacl is null or exists (select 1 from aclexplode(p.proacl) a"
            "      where a.grantee = 0))"
        ).fetchall()
        public_tables = conn.execute(
            "select c.relname from pg_class c where c.relnamespace = 'pgflow'::regnamespace"
            " and exists (select 1 from aclexplode(c.relacl) a where a.grantee = 0)"
        ).fetchall()
        schema_public = conn.execute(
            "select has_schema_privilege('public', 'pgflow', 'usage')"
        ).fetchone()
    assert public_functions == []
    assert public_tables == []
    assert schema_public == (False,)


def test_every_function_pins_its_search_path_with_pg_temp_last(roles_dsn: str) -> None:
    # An empty path (or one without pg_temp) searches pg_temp first for relations and types:
    # a caller with TEMP could shadow a type the function uses and run code as its owner.
    with psycopg.connect(roles_dsn, autocommit=True) as conn:
        unpinned = conn.execute(
            "select p.oid::regprocedure::text, p.proconfig from pg_proc p"
            " where p.pronamespace = 'pgflow'::regnamespace"
            " and array(select c from unnest(coalesce(p.proconfig, '{}')) as c"
            "           where c like 'search_path=%')"
            "     is distinct from array['search_path=pg_catalog, pg_temp']"
        ).fetchall()
        definers = conn.execute(
            "select count(*) from pg_proc p"
            " where p.pronamespace = 'pgflow'::regnamespace and p.prosecdef"
        ).fetchone()
    assert unpinned == []
    assert definers is not None and definers[0] >= 10


def test_worker_runs_the_081_protocol_on_queues_made_before_and_after(
    roles_dsn: str, login: Any
) -> None:
    worker = login("pgflow_worker")
    for flow, step in (("early", "only"), ("late", "first")):
        run_081_protocol(worker, roles_dsn, flow, step)
    differences = worker.execute(
        "select pgflow.compare_flow_shape('late', %s)", (Jsonb({"steps": []}),)
    ).fetchone()
    assert differences is not None and differences[0]


def test_worker_claims_completes_fails_and_releases_in_batches(roles_dsn: str, login: Any) -> None:
    run_id = _start(roles_dsn, "late")
    worker = login("pgflow_worker")
    worker_id = uuid.uuid4()
    worker.execute(
        "insert into pgflow.workers (queue_name, worker_id, function_name)"
        " values ('late', %s, 't')",
        (worker_id,),
    )
    claimed = worker.execute(
        "select run_id, step_slug, task_index, attempt from pgflow.claim_tasks(%s, %s, 10, 5)",
        (["late"], worker_id),
    ).fetchall()
    assert [(c[0], c[1], c[2]) for c in claimed] == [(run_id, "first", 0)]
    results = [{"run_id": str(run_id), "step_slug": "first", "task_index": 0, "output": 7}]
    worker.execute("select * from pgflow.complete_tasks(%s)", (Jsonb(results),))
    second = worker.execute(
        "select run_id, step_slug, attempt from pgflow.claim_tasks(%s, %s)", (["late"], worker_id)
    ).fetchall()
    assert [(s[0], s[1]) for s in second] == [(run_id, "second")]
    failures = [
        {"run_id": str(run_id), "step_slug": "second", "task_index": 0, "error_message": "no"}
    ]
    worker.execute("select * from pgflow.fail_tasks(%s)", (Jsonb(failures),))
    assert worker.execute("select pgflow.release_tasks(%s)", (worker_id,)).fetchone() == (0,)
    assert worker.execute("select pgflow.requeue_stalled_tasks()").fetchone() == (0,)
    assert _status(roles_dsn, run_id) == {"first": "completed", "second": "started"}


def test_worker_is_denied_everything_else(roles_dsn: str, login: Any) -> None:
    run_id = _start(roles_dsn, "early")
    worker = login("pgflow_worker")
    assert "function start_flow" in _denied(
        worker, "select pgflow.start_flow('early', '{}'::jsonb)"
    )
    assert "function create_flow" in _denied(worker, "select pgflow.create_flow('mine')")
    assert "function cancel_run" in _denied(worker, "select pgflow.cancel_run(%s)", (run_id,))
    assert "table runs" in _denied(worker, "select * from pgflow.runs")
    assert "table step_tasks" in _denied(worker, "update pgflow.step_tasks set attempts_count = 0")
    assert "table q_early" in _denied(worker, "select pgmq.send('early', '{}'::jsonb)")
    assert "table installed_versions" in _denied(worker, "delete from pgflow.installed_versions")


def test_client_starts_reads_cancels_and_retries_runs(roles_dsn: str, login: Any) -> None:
    client = login("pgflow_client")
    row = client.execute("select run_id, status from pgflow.start_flow('late', '{}')").fetchone()
    assert row is not None and row[1] == "started"
    run_id = row[0]
    state = client.execute("select pgflow.get_run_with_states(%s)", (run_id,)).fetchone()
    assert state is not None and state[0]["run"]["run_id"] == str(run_id)
    steps = client.execute(
        "select step_slug, status from pgflow.step_states where run_id = %s order by step_slug",
        (run_id,),
    ).fetchall()
    assert steps == [("first", "started"), ("second", "created")]
    tasks = client.execute(
        "select t.step_slug, t.status from pgflow.step_tasks t"
        " join pgflow.steps s using (flow_slug, step_slug) where t.run_id = %s",
        (run_id,),
    ).fetchall()
    assert tasks == [("first", "queued")]
    cancelled = client.execute("select status from pgflow.cancel_run(%s)", (run_id,)).fetchone()
    assert cancelled == ("cancelled",)
    retried = client.execute("select status from pgflow.retry_run(%s)", (run_id,)).fetchone()
    assert retried == ("started",)
    with_states = client.execute(
        "select pgflow.start_flow_with_states('early', %s)", (json.dumps({"a": 1}),)
    ).fetchone()
    assert with_states is not None and with_states[0]["run"]["status"] == "started"


def test_the_roles_queue_admit_and_cancel_runs_of_a_limited_flow(
    roles_dsn: str, login: Any
) -> None:
    """Slot accounting runs as the owner: the roles need no right on its sequence or locks."""
    with psycopg.connect(roles_dsn, autocommit=True) as owner:
        owner.execute("select pgflow.create_flow('late', concurrency_limit => 1)")
    client = login("pgflow_client")
    started, queued, later = (
        client.execute("select run_id, status from pgflow.start_flow('late', '{}')").fetchone()
        for _ in range(3)
    )
    assert (started[1], queued[1], later[1]) == ("started", "queued", "queued")
    assert client.execute("select status from pgflow.cancel_run(%s)", (queued[0],)).fetchone() == (
        "cancelled",
    )
    worker = login("pgflow_worker")
    worker_id = uuid.uuid4()
    worker.execute(
        "insert into pgflow.workers (queue_name, worker_id, function_name)"
        " values ('late', %s, 't')",
        (worker_id,),
    )
    for step in ("first", "second"):
        (task,) = worker.execute(
            "select run_id, step_slug, task_index from pgflow.claim_tasks(%s, %s)",
            (["late"], worker_id),
        ).fetchall()
        assert (task[0], task[1]) == (started[0], step)
        result = {"run_id": str(task[0]), "step_slug": step, "task_index": 0, "output": 1}
        worker.execute("select * from pgflow.complete_tasks(%s)", (Jsonb([result]),))
    status = client.execute("select status from pgflow.runs where run_id = %s", (later[0],))
    assert status.fetchone() == ("started",)


def test_client_is_denied_the_worker_side(roles_dsn: str, login: Any) -> None:
    run_id = _start(roles_dsn, "early")
    client = login("pgflow_client")
    wid = uuid.uuid4()
    assert "function start_tasks" in _denied(
        client, "select * from pgflow.start_tasks('early', array[1::bigint], %s)", (wid,)
    )
    assert "function complete_task" in _denied(
        client, "select pgflow.complete_task(%s, 'only', 0, '1')", (run_id,)
    )
    assert "function claim_tasks" in _denied(
        client, "select * from pgflow.claim_tasks(array['early'], %s)", (wid,)
    )
    assert "schema pgmq" in _denied(client, "select * from pgmq.read('early', 5, 1)")
    assert "table step_tasks" in _denied(client, "update pgflow.step_tasks set attempts_count = 0")
    assert "table workers" in _denied(client, "select * from pgflow.workers")
    assert "table runs" in _denied(client, "delete from pgflow.runs")
    assert "function prune" in _denied(client, "select pgflow.prune('0 seconds')")
    assert "function create_flow" in _denied(client, "select pgflow.create_flow('mine')")


def test_user_without_a_role_is_denied_pgflow(roles_dsn: str, login: Any) -> None:
    nobody = login(None)
    assert "schema pgflow" in _denied(nobody, "select pgflow.is_valid_slug('x')")
    assert "schema pgflow" in _denied(nobody, "select * from pgflow.runs")
    assert "schema pgmq" in _denied(nobody, "select * from pgmq.read('early', 5, 1)")


def test_what_the_roles_may_call_runs_as_owner_or_touches_nothing(roles_dsn: str) -> None:
    with psycopg.connect(roles_dsn, autocommit=True) as conn:
        invoker = conn.execute(
            "select p.oid::regprocedure::text from pg_proc p"
            " where p.pronamespace = 'pgflow'::regnamespace"
            " and (has_function_privilege('pgflow_worker', p.oid, 'execute')"
            "      or has_function_privilege('pgflow_client', p.oid, 'execute'))"
            " and not p.prosecdef and p.provolatile <> 'i'"
            " order by 1"
        ).fetchall()
    assert invoker == []
