"""The exact rights of the roles (issue 9, item 4), tried as each role: what is forbidden fails.

The worker role holds, on each flow's queue, exactly what pgmq.read / read_with_poll / set_vt /
archive need (granted when the flow is created, or by re-running the role file), nothing on any
other pgmq table, and only its own rows of pgflow.workers. 0.2.0 granted more (default
privileges in schema pgmq, every row of pgflow.workers): the upgrade takes it back.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgflow_yaml import core
from tests.install.roleplay import all_denied, denied, run_081_protocol, start_run

RELEASES = Path(__file__).parent / "releases"


@pytest.fixture
def roles_dsn(dsn: str) -> str:
    """Return a database with roles, an application queue made before and one after them,
    a flow whose queue predates the roles ('early') and one created after ('late')."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select pgmq.create('app_before')")
        conn.execute("select pgflow.create_flow('early')")
        conn.execute("select pgflow.add_step('early', 'only')")
        core.install(conn, roles=True)
        conn.execute("select pgmq.create('app_after')")
        conn.execute("select pgflow.create_flow('late')")
        conn.execute("select pgflow.add_step('late', 'only')")
        conn.execute("select pgmq.send('app_before', '{\"app\": 1}')")
        conn.execute("select pgmq.send('app_after', '{\"app\": 2}')")
    return dsn


def _worker_rights(conn: psycopg.Connection[Any]) -> dict[str, list[str]]:
    """Return {pgmq table: its rights} for every pgmq table pgflow_worker has any right on."""
    rows = conn.execute(
        "select c.relname, array(select r from unnest(array['select', 'insert', 'update',"
        "   'delete', 'truncate', 'references', 'trigger']) r"
        "   where has_table_privilege('pgflow_worker', c.oid, r)"
        "      or (r in ('select', 'insert', 'update')"
        "          and has_any_column_privilege('pgflow_worker', c.oid, r)))"
        " from pg_class c where c.relnamespace = 'pgmq'::regnamespace and c.relkind in ('r', 'p')"
        " order by 1"
    ).fetchall()
    return {name: rights for name, rights in rows if rights}


def _column_rights(conn: psycopg.Connection[Any], table: str, right: str) -> list[str]:
    rows = conn.execute(
        "select a.attname from pg_attribute a where a.attrelid = %s::regclass and a.attnum > 0"
        " and has_column_privilege('pgflow_worker', a.attrelid, a.attnum, %s) order by 1",
        (table, right),
    ).fetchall()
    return [name for (name,) in rows]


_FLOW_QUEUE = ["select", "update", "delete"]
_FLOW_ARCHIVE = ["select", "insert"]  # select of msg_id only (archive ... returning msg_id)


def test_worker_holds_exactly_the_protocol_rights_on_flow_queues_only(roles_dsn: str) -> None:
    with psycopg.connect(roles_dsn, autocommit=True) as conn:
        assert _worker_rights(conn) == {
            "a_early": _FLOW_ARCHIVE,
            "a_late": _FLOW_ARCHIVE,
            "q_early": _FLOW_QUEUE,
            "q_late": _FLOW_QUEUE,
        }
        assert _column_rights(conn, "pgmq.q_late", "update") == ["last_read_at", "read_ct", "vt"]
        assert _column_rights(conn, "pgmq.a_late", "select") == ["msg_id"]
        defaults = conn.execute(
            "select count(*) from pg_default_acl d, aclexplode(d.defaclacl) a"
            " where a.grantee = 'pgflow_worker'::regrole"
        ).fetchone()
        workers = _column_rights(conn, "pgflow.workers", "insert")
        updates = _column_rights(conn, "pgflow.workers", "update")
        deletes = conn.execute(
            "select has_table_privilege('pgflow_worker', 'pgflow.workers', 'delete')"
        ).fetchone()
    assert defaults == (0,)
    assert workers == ["function_name", "queue_name", "worker_id"]
    assert updates == ["last_heartbeat_at"]
    assert deletes == (False,)


def test_flows_of_a_database_without_roles_grant_nothing(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "do $$ begin create role pgflow_worker nologin;"
            " exception when duplicate_object or unique_violation then null; end $$"
        )  # the role is cluster-wide: another database may have made it
        conn.execute("select pgflow.create_flow('alone')")
        assert _worker_rights(conn) == {}


def test_worker_cannot_reach_an_application_queue(roles_dsn: str, login: Any) -> None:
    worker = login("pgflow_worker")
    for queue in ("app_before", "app_after"):
        for call in (
            "select * from pgmq.read(%s, 30, 1)",
            "select * from pgmq.read_with_poll(%s, 30, 1, 1)",
            "select pgmq.send(%s, '{}'::jsonb)",
            "select pgmq.set_vt(%s, 1, 0)",
            "select pgmq.archive(%s, 1::bigint)",
            "select pgmq.delete(%s, 1::bigint)",
            "select pgmq.purge_queue(%s)",
        ):
            assert denied(worker, call, (queue,)).endswith(f"_{queue}"), call
        assert f"table q_{queue}" in denied(worker, f"select * from pgmq.q_{queue}")
        assert f"table a_{queue}" in denied(worker, f"select * from pgmq.a_{queue}")
    with pytest.raises(psycopg.errors.RaiseException, match='Flow "app_after" does not exist'):
        worker.execute("select * from pgflow.claim_tasks(array['app_after'], %s)", (uuid.uuid4(),))
    assert worker.execute("select * from pgflow.start_tasks('app_after', array[1::bigint],"
                          " %s)", (uuid.uuid4(),)).fetchall() == []  # fmt: skip
    assert "table meta" in denied(worker, "select * from pgmq.list_queues()")
    assert "table meta" in denied(worker, "select * from pgmq.metrics_all()")
    assert "schema pgmq" in denied(worker, "select pgmq.create('mine')")
    with psycopg.connect(roles_dsn, autocommit=True) as admin:
        untouched = admin.execute(
            "select (select count(*) from pgmq.q_app_before where read_ct = 0),"
            " (select count(*) from pgmq.q_app_after where read_ct = 0)"
        ).fetchone()
    assert untouched == (1, 1)


def test_worker_cannot_send_or_rewrite_flow_messages(roles_dsn: str, login: Any) -> None:
    run_id = start_run(roles_dsn, "late")
    worker = login("pgflow_worker")
    all_denied(
        worker,
        [
            ("table q_late", "select pgmq.send('late', '{}'::jsonb)"),
            ("table q_late", "select pgmq.send_batch('late', array['{}'::jsonb])"),
            ("table q_late", "insert into pgmq.q_late (message) values ('{}')"),
            ("table q_late", "update pgmq.q_late set message = '{}'"),
            ("table a_late", "select message from pgmq.a_late"),
            ("table a_late", "delete from pgmq.a_late"),
            ("table q_late", "truncate pgmq.q_late"),
        ],
    )
    assert "table meta" in denied(worker, "select pgmq.drop_queue('late')")
    with psycopg.connect(roles_dsn, autocommit=True) as admin:
        body = admin.execute("select message ->> 'run_id' from pgmq.q_late").fetchall()
    assert body == [(str(run_id),)]


def test_worker_touches_only_its_own_workers_row(roles_dsn: str, login: Any) -> None:
    mine, theirs = login("pgflow_worker"), login("pgflow_worker")
    their_id, my_id = uuid.uuid4(), uuid.uuid4()
    theirs.execute("select pgflow.register_worker(%s, 'late', 'theirs')", (their_id,))
    mine.execute("select pgflow.register_worker(%s, 'late', 'mine')", (my_id,))
    assert mine.execute("select worker_id from pgflow.workers").fetchall() == [(my_id,)]
    changed = mine.execute(
        "update pgflow.workers set last_heartbeat_at = now() where worker_id = %s", (their_id,)
    )
    assert changed.rowcount == 0
    assert "table workers" in denied(
        mine, "update pgflow.workers set stopped_at = now() where worker_id = %s", (their_id,)
    )
    assert "table workers" in denied(
        mine, "update pgflow.workers set registered_by = 'x' where worker_id = %s", (my_id,)
    )
    assert "table workers" in denied(mine, "delete from pgflow.workers")
    assert "table workers" in denied(
        mine,
        "insert into pgflow.workers (worker_id, queue_name, function_name, registered_by)"
        " values (%s, 'late', 'forged', %s)",
        (uuid.uuid4(), theirs.info.user),
    )
    with pytest.raises(psycopg.errors.RaiseException, match="registered by another login"):
        mine.execute("select pgflow.register_worker(%s, 'late', 'hijack')", (their_id,))
    assert mine.execute("select pgflow.heartbeat_worker(%s)", (their_id,)).fetchone() == (None,)
    mine.execute("select pgflow.mark_worker_stopped(%s)", (their_id,))
    with psycopg.connect(roles_dsn, autocommit=True) as admin:
        rows = admin.execute(
            "select function_name, registered_by, stopped_at is null from pgflow.workers"
            " order by function_name"
        ).fetchall()
    assert rows == [("mine", mine.info.user, True), ("theirs", theirs.info.user, True)]


def test_worker_registers_heartbeats_and_stops_through_functions(
    roles_dsn: str, login: Any
) -> None:
    worker = login("pgflow_worker")
    wid = uuid.uuid4()
    worker.execute("select pgflow.register_worker(%s, 'early,late', 'pgflow-yaml@host')", (wid,))
    assert worker.execute("select pgflow.heartbeat_worker(%s)", (wid,)).fetchone() == (False,)
    with psycopg.connect(roles_dsn, autocommit=True) as admin:
        admin.execute(
            "update pgflow.workers set deprecated_at = now() where worker_id = %s", (wid,)
        )
    assert worker.execute("select pgflow.heartbeat_worker(%s)", (wid,)).fetchone() == (True,)
    worker.execute("select pgflow.mark_worker_stopped(%s)", (wid,))
    row = worker.execute(
        "select queue_name, registered_by = session_user, stopped_at is not null"
        " from pgflow.workers where worker_id = %s",
        (wid,),
    ).fetchone()
    assert row == ("early,late", True, True)
    worker.execute("select pgflow.register_worker(%s, 'late', 'pgflow-yaml@host')", (wid,))
    again = worker.execute(
        "select queue_name, stopped_at from pgflow.workers where worker_id = %s", (wid,)
    ).fetchone()
    assert again == ("late", None)


def test_worker_keeps_the_081_protocol_with_its_own_row(roles_dsn: str, login: Any) -> None:
    worker = login("pgflow_worker")
    wid = uuid.uuid4()
    row = worker.execute(
        "insert into pgflow.workers (queue_name, worker_id, function_name)"
        " values ('late', %s, 'edge') returning worker_id, registered_by",
        (wid,),
    ).fetchone()
    assert row == (wid, worker.info.user)
    beat = worker.execute(
        "update pgflow.workers set last_heartbeat_at = clock_timestamp() where worker_id = %s"
        " returning (deprecated_at is not null) as is_deprecated",
        (wid,),
    ).fetchone()
    assert beat == (False,)


def test_client_and_nobody_are_denied_queues_tables_and_admin_calls(
    roles_dsn: str, login: Any
) -> None:
    client, nobody, worker = login("pgflow_client"), login(None), login("pgflow_worker")
    for who in (client, nobody):
        for queue in ("late", "app_after"):
            assert "schema pgmq" in denied(who, "select * from pgmq.read(%s, 30, 1)", (queue,))
            assert "schema pgmq" in denied(who, "select pgmq.send(%s, '{}'::jsonb)", (queue,))
    all_denied(
        client,
        [
            ("table runs", "insert into pgflow.runs (flow_slug) values ('late')"),
            ("table step_states", "update pgflow.step_states set status = 'x'"),
            ("table step_tasks", "delete from pgflow.step_tasks"),
            ("table flows", "update pgflow.flows set opt_max_attempts = 9"),
            ("table steps", "delete from pgflow.steps"),
            ("table workers", "select * from pgflow.workers"),
        ],
    )
    for who, calls in (
        (client, ["register_worker(null, 'late', 'x')", "claim_tasks(array['late'], null)"]),
        (worker, ["start_flow('late', '{}')", "cancel_run(null)", "retry_run(null)"]),
    ):
        for call in calls:
            assert "permission denied for function" in denied(who, f"select pgflow.{call}")
    for who in (client, worker):
        for call in (
            "prune('0 seconds')",
            "create_flow('mine')",
            "add_step('late', 'more')",
            "_grant_flow_queue('late')",
            "drop_flow('late')",
            "drop_flow('late', force => true)",
            "set_vt_batch('late', array[1::bigint], array[1])",
        ):
            assert "permission denied for function" in denied(who, f"select pgflow.{call}")
    for call in (
        "is_valid_slug('x')",
        "start_flow('late', '{}')",
        "register_worker(null, 'l', 'x')",
        "prune('0 seconds')",
        "create_flow('mine')",
        "add_step('late', 'more')",
        "drop_flow('late')",
    ):
        assert "schema pgflow" in denied(nobody, f"select pgflow.{call}")


def test_flows_created_after_install_by_the_installer_or_another_role_are_served(
    roles_dsn: str, login: Any
) -> None:
    with psycopg.connect(roles_dsn, autocommit=True) as admin:
        installer = admin.execute("select current_user").fetchone()
    assert installer is not None
    deployer = login(installer[0])  # a migration login in the installing role's group
    deployer.execute("select pgflow.create_flow('deployed')")
    deployer.execute("select pgflow.add_step('deployed', 'only')")
    owner = deployer.execute("select relowner::regrole::text from pg_class c"
                             " where c.oid = 'pgmq.q_deployed'::regclass").fetchone()  # fmt: skip
    assert owner == (deployer.info.user,)
    worker = login("pgflow_worker")
    for flow in ("early", "late", "deployed"):
        run_081_protocol(worker, roles_dsn, flow, "only")
    assert "table q_deployed" in denied(worker, "select pgmq.send('deployed', '{}'::jsonb)")


def test_reapplying_the_roles_revokes_rights_on_queues_that_are_no_flow(
    roles_dsn: str, login: Any
) -> None:
    other = login(None).info.user  # another role that once granted default privileges
    with psycopg.connect(roles_dsn, autocommit=True) as admin:
        admin.execute("grant select, insert on pgmq.q_app_after to pgflow_worker")
        admin.execute(
            sql.SQL(
                "alter default privileges for role {} in schema pgmq"
                " grant select, insert on tables to pgflow_worker"
            ).format(sql.Identifier(other))
        )
        admin.execute("delete from pgflow.steps where flow_slug = 'late'")
        admin.execute("delete from pgflow.flows where flow_slug = 'late'")
        core.install(admin, roles=True)
        rights = _worker_rights(admin)
        defaults = admin.execute(
            "select count(*) from pg_default_acl d, aclexplode(d.defaclacl) a"
            " where a.grantee = 'pgflow_worker'::regrole"
        ).fetchone()
    assert rights == {"a_early": _FLOW_ARCHIVE, "q_early": _FLOW_QUEUE}
    assert defaults == (0,)


def test_upgrade_from_020_takes_back_its_broad_grants(empty_dsn: str) -> None:
    old_core = (RELEASES / "0.2.0.sql").read_text(encoding="utf-8")
    old_roles = (RELEASES / "roles" / "0.2.0.sql").read_text(encoding="utf-8")
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        core.install_pgmq(conn)
        conn.execute("select pgmq.create('app_before')")
        with conn.transaction():
            conn.execute(old_core)
            conn.execute("insert into pgflow.installed_versions (version) values ('0.2.0')")
            conn.execute(old_roles)
        conn.execute("select pgmq.create('app_after')")
        conn.execute("select pgflow.create_flow('late')")
        conn.execute("select pgflow.add_step('late', 'only')")
        before = _worker_rights(conn)
        assert before["q_app_after"] == ["select", "insert", "update", "delete"]
        assert before["q_late"] == ["select", "insert", "update", "delete"]
        result = core.install(conn)
        assert (result.action, result.roles) == ("upgraded", True)
        assert _worker_rights(conn) == {"a_late": _FLOW_ARCHIVE, "q_late": _FLOW_QUEUE}
        defaults = conn.execute(
            "select count(*) from pg_default_acl d, aclexplode(d.defaclacl) a"
            " where a.grantee = 'pgflow_worker'::regrole"
        ).fetchone()
        assert defaults == (0,)
        conn.execute("select pgmq.create('app_later')")
        assert "q_app_later" not in _worker_rights(conn)


def test_client_reads_every_worker_row_but_not_who_registered_it(
    roles_dsn: str, login: Any
) -> None:
    worker, client = login("pgflow_worker"), login("pgflow_client")
    wid = uuid.uuid4()
    worker.execute("select pgflow.register_worker(%s, 'late', 'w')", (wid,))
    rows = client.execute("select worker_id, queue_name, stopped_at from pgflow.workers").fetchall()
    assert rows == [(wid, "late", None)]  # the dashboard's Workers page, as pgflow_client
    all_denied(
        client,
        [
            ("table workers", "select registered_by from pgflow.workers"),
            ("table workers", "select * from pgflow.workers"),
            ("table workers", "update pgflow.workers set stopped_at = now()"),
            ("table workers", "delete from pgflow.workers"),
            ("table workers", "insert into pgflow.workers (worker_id, queue_name, function_name)"
                              " values (gen_random_uuid(), 'late', 'forged')"),
        ],
    )  # fmt: skip
    with psycopg.connect(roles_dsn, autocommit=True) as admin:
        policies = admin.execute(
            "select polname, polcmd from pg_policy where polrelid = 'pgflow.workers'::regclass"
            " order by 1"
        ).fetchall()
    assert policies == [("workers_own_rows", "*"), ("workers_read_by_clients", "r")]
