"""The privilege escalation of issue 9 (item 1), run as an attack against every callable function.

A login in ``pgflow_worker`` or ``pgflow_client`` has the default TEMP right, so it can put in
``pg_temp`` a domain named like a type the core uses (``uuid``, ``text``, ``jsonb``...) whose
CHECK calls its own function, or a view named like a relation the core reads (``runs``,
``q_<flow>``...) that calls it when read or written. A function that ran as its owner and
resolved a name through ``pg_temp`` would run that code as the owner (a superuser here: the
attack then creates a superuser login). Every function in schema ``pgflow`` pins
``search_path = pg_catalog, pg_temp``, so none may.

Each test plants the shadows, then calls every function the role may execute (enumerated from
the catalog, so a function granted later must get a plausible call here) and checks that the
calls behave normally and that the attacker's code never ran: its sequence was never advanced
(``nextval`` survives a rollback), its log is empty, no role was created.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from pgflow_yaml import core
from tests.install.roleplay import start_run

_counter = itertools.count()

# Types the core's functions name: the built-in ones that are not SQL keywords (keywords such
# as integer or boolean always mean pg_catalog's) and the core's and pgmq's composite types.
_BUILTIN_TYPES = [
    "uuid", "text", "jsonb", "json", "int2", "int4", "int8", "float8", "bool", "varchar",
    "name", "oid", "timestamptz", "timestamp", "regclass", "regnamespace", "regprocedure",
    "regtype", "bytea",
]  # fmt: skip
_COMPOSITE_TYPES = ["claimed_task", "step_task_record", "message_record"]

_ATTACK = """
create function pg_temp.attack() returns boolean language plpgsql as $attack$
begin
  perform pg_catalog.nextval('public.attack_hits');
  insert into public.attack_log (who) values (current_user);
  if (select r.rolsuper from pg_catalog.pg_roles r where r.rolname = current_user)
     and not exists (select from pg_catalog.pg_roles r where r.rolname = {marker}) then
    execute pg_catalog.format('create role %I superuser login', {marker});
  end if;
  return true;
end
$attack$;
create function pg_temp.attack_row() returns trigger language plpgsql as $attack$
begin
  perform pg_temp.attack();
  return null;
end
$attack$;
"""


@pytest.fixture
def roles_dsn(dsn: str) -> str:
    """Return a database with roles, a two-step flow and the attacker's detectors."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        core.install(conn, roles=True)
        conn.execute("select pgflow.create_flow('atk', max_attempts => 2, base_delay => 0)")
        conn.execute("select pgflow.add_step('atk', 'first')")
        conn.execute("select pgflow.add_step('atk', 'second', array['first'])")
        conn.execute("create sequence public.attack_hits")
        conn.execute("create table public.attack_log (who text not null)")
        conn.execute("grant usage on sequence public.attack_hits to public")
        conn.execute("grant insert on public.attack_log to public")
    return dsn


@pytest.fixture
def marker(roles_dsn: str) -> Iterator[str]:
    """Return the name of the role the attack creates if it ever runs as a superuser."""
    name = f"pgflow_attack_{os.getpid()}_{next(_counter)}"
    yield name
    with psycopg.connect(roles_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(name)))


def _relations(admin: psycopg.Connection[Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Return every table, view and sequence of schemas pgflow and pgmq with its columns."""
    rows = admin.execute(
        "select c.relname, array_agg(array[a.attname::text, format_type(a.atttypid, a.atttypmod)]"
        "                            order by a.attnum)"
        " from pg_class c join pg_attribute a on a.attrelid = c.oid"
        " where c.relnamespace in ('pgflow'::regnamespace, 'pgmq'::regnamespace)"
        "   and c.relkind in ('r', 'p', 'v', 'S') and a.attnum > 0 and not a.attisdropped"
        " group by c.relname order by c.relname"
    ).fetchall()
    return [(name, [(col, typ) for col, typ in columns]) for name, columns in rows]


def _plant(attacker: psycopg.Connection[Any], admin_dsn: str, marker: str, shadows: str) -> None:
    """Create the attacker's function and its shadows (types, relations or none) in ``pg_temp``."""
    # pg_temp last for this session's own statements, so that only a function resolving a
    # name through pg_temp first can reach the shadows
    attacker.execute("set search_path = pg_catalog, pg_temp")
    attacker.execute(sql.SQL(_ATTACK).format(marker=sql.Literal(marker)))
    if shadows == "none":
        return
    if shadows == "types":
        for name in _BUILTIN_TYPES:
            attacker.execute(
                sql.SQL(
                    "create domain pg_temp.{} as pg_catalog.{} check (pg_temp.attack())"
                ).format(sql.Identifier(name), sql.Identifier(name))
            )
        for name in _COMPOSITE_TYPES:
            attacker.execute(
                sql.SQL(
                    "create domain pg_temp.{} as pg_catalog.jsonb check (pg_temp.attack())"
                ).format(sql.Identifier(name))
            )
        return
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        relations = _relations(admin)
    assert {"runs", "steps", "flows", "step_tasks", "workers", "q_atk", "a_atk", "meta"} <= {
        name for name, _ in relations
    }
    for name, columns in relations:
        select_list = sql.SQL(", ").join(
            sql.SQL("(case when attack.hit then null end)::{} as {}").format(
                sql.SQL(typ), sql.Identifier(col)
            )
            for col, typ in columns
        )
        attacker.execute(
            sql.SQL(
                "create view pg_temp.{} as select {}"
                " from (select pg_temp.attack() as hit offset 0) as attack where attack.hit"
            ).format(sql.Identifier(name), select_list)
        )
        attacker.execute(
            sql.SQL(
                "create trigger attack instead of insert or update or delete on pg_temp.{}"
                " for each row execute function pg_temp.attack_row()"
            ).format(sql.Identifier(name))
        )


def _callable(admin_dsn: str, role: str) -> dict[str, list[str]]:
    """Return {function name: [argument types]} of what ``role`` may execute in schema pgflow."""
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        rows = admin.execute(
            "select p.proname, array(select format_type(t, null) from unnest(p.proargtypes) t)"
            " from pg_proc p where p.pronamespace = 'pgflow'::regnamespace"
            " and has_function_privilege(%s, p.oid, 'execute') order by 1",
            (role,),
        ).fetchall()
    return {name: types for name, types in rows}


def _state(admin_dsn: str, run_id: uuid.UUID) -> tuple[str, dict[str, str]]:
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        run = admin.execute(
            "select status from pgflow.runs where run_id = %s", (run_id,)
        ).fetchone()
        steps = admin.execute(
            "select step_slug, status from pgflow.step_states where run_id = %s", (run_id,)
        ).fetchall()
    assert run is not None
    return run[0], dict(steps)


class _Calls:
    """Run calls on the attacker's connection and remember which pgflow functions they named."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.named: set[str] = set()

    def one(self, function: str, query: str, params: Any = None) -> Any:
        self.named.add(function)
        row = self.conn.execute(query, params).fetchone()
        return None if row is None else row[0]

    def all(self, function: str, query: str, params: Any = None) -> list[Any]:
        self.named.add(function)
        return self.conn.execute(query, params).fetchall()


def _worker_calls(calls: _Calls, dsn: str) -> None:
    """Drive two runs through every worker call; check each answer as a worker would."""
    wid = uuid.uuid4()
    calls.one("register_worker", "select pgflow.register_worker(%s, 'atk', 'attacker')", (wid,))
    assert calls.one("heartbeat_worker", "select pgflow.heartbeat_worker(%s)", (wid,)) is False
    first = start_run(dsn, "atk", '{"n": 1}')
    msgs = [m[0] for m in calls.conn.execute("select msg_id from pgmq.read('atk', 30, 10)")]
    started = calls.all(
        "start_tasks",
        "select run_id, step_slug, task_index from pgflow.start_tasks('atk', %s, %s)",
        (msgs, wid),
    )
    assert started == [(first, "first", 0)]
    calls.one(
        "complete_task",
        "select count(*) from pgflow.complete_task(run_id => %s, step_slug => 'first',"
        " task_index => 0, output => %s)",
        (first, Jsonb({"x": 1})),
    )
    claim = "select run_id, step_slug from pgflow.claim_tasks(array['atk'], %s, 10, 30)"
    assert calls.all("claim_tasks", claim, (wid,)) == [(first, "second")]
    calls.one(
        "fail_task",
        "select count(*) from pgflow.fail_task(run_id => %s, step_slug => 'second',"
        " task_index => 0, error_message => 'transient')",
        (first,),
    )
    assert calls.all("claim_tasks", claim, (wid,)) == [(first, "second")]
    assert calls.one("release_tasks", "select pgflow.release_tasks(%s)", (wid,)) == 1
    assert calls.all("claim_tasks", claim, (wid,)) == [(first, "second")]
    done = [{"run_id": str(first), "step_slug": "second", "task_index": 0, "output": 2}]
    calls.all("complete_tasks", "select * from pgflow.complete_tasks(%s)", (Jsonb(done),))
    second = start_run(dsn, "atk", '{"n": 1}')
    # the same report again (a duplicate changes nothing), with the claim of the next task
    and_claim = (
        "select run_id, step_slug from pgflow.complete_and_claim(%s, array['atk'], %s, 10, 30)"
    )
    assert calls.all("complete_and_claim", and_claim, (Jsonb(done), wid)) == [(second, "first")]
    failed = [
        {
            "run_id": str(second),
            "step_slug": "first",
            "task_index": 0,
            "error_message": "permanent",
            "retryable": False,
        }
    ]
    calls.all("fail_tasks", "select * from pgflow.fail_tasks(%s)", (Jsonb(failed),))
    assert calls.one("requeue_stalled_tasks", "select pgflow.requeue_stalled_tasks()") == 0
    assert calls.one("expire_waiting_steps", "select pgflow.expire_waiting_steps()") == 0
    assert calls.one("start_due_subflows", "select pgflow.start_due_subflows()") == 0
    differences = calls.one(
        "compare_flow_shape", "select pgflow.compare_flow_shape('atk', %s)", (Jsonb({"steps": []}),)
    )
    assert differences and "step count" in differences[0]
    assert calls.one("is_valid_slug", "select pgflow.is_valid_slug('atk')") is True
    assert calls.one("calculate_retry_delay", "select pgflow.calculate_retry_delay(2, 3)") == 16
    assert (
        calls.all("run_trace_contexts", "select * from pgflow.run_trace_contexts(%s)", ([first],))
        == []
    )
    _schedule(dsn)
    (schedule,) = calls.all("list_schedules", "select * from pgflow.list_schedules(array['atk'])")
    due = [{"flow_slug": "atk", "schedule_name": "s", "through": str(schedule[9]), "fire_at": []}]
    fired = calls.all(
        "fire_schedules",
        "select outcome from pgflow.fire_schedules(now(), %s)",
        (Jsonb(due),),
    )
    assert fired == []  # nothing asked to fire; the schedule is settled
    with pytest.raises(psycopg.errors.RaiseException) as early:
        calls.conn.execute("select pgflow.fire_schedules('2999-01-01T00:00Z', %s)", (Jsonb(due),))
    message = early.value.diag.message_primary or ""
    assert message.startswith("fire_schedules: now (2999-") and message.endswith("in the future")
    calls.one("mark_worker_stopped", "select pgflow.mark_worker_stopped(%s)", (wid,))
    assert _state(dsn, first) == ("completed", {"first": "completed", "second": "completed"})
    assert _state(dsn, second) == ("failed", {"first": "failed", "second": "cancelled"})
    with psycopg.connect(dsn, autocommit=True) as admin:
        stopped = admin.execute(
            "select stopped_at is not null from pgflow.workers where worker_id = %s", (wid,)
        ).fetchone()
    assert stopped == (True,)


def _schedule(dsn: str) -> None:
    """Give the flow a schedule, as its compiled migration would."""
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(
            "select pgflow.set_schedules('atk', %s)",
            (Jsonb([{"name": "s", "cron": "0 3 * * *", "input": {"a": 1}}]),),
        )


def _client_calls(calls: _Calls, dsn: str) -> None:
    """Start, inspect, cancel and retry runs with every client call; check each answer."""
    run_id = calls.one(
        "start_flow", "select run_id from pgflow.start_flow('atk', %s)", ('{"a": 1}',)
    )
    states = calls.one(
        "start_flow_with_states", "select pgflow.start_flow_with_states('atk', %s)", ('{"b": 2}',)
    )
    assert states["run"]["status"] == "started"
    batch = calls.all(
        "start_flows", "select run_id from pgflow.start_flows('atk', %s)", (Jsonb([{}, {}]),)
    )
    assert len(batch) == 2
    got = calls.one("get_run_with_states", "select pgflow.get_run_with_states(%s)", (run_id,))
    assert got["run"]["run_id"] == str(run_id)
    assert (
        calls.one("cancel_run", "select status from pgflow.cancel_run(%s)", (run_id,))
        == "cancelled"
    )
    assert calls.one("retry_run", "select status from pgflow.retry_run(%s)", (run_id,)) == "started"
    trace = Jsonb({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
    assert calls.one(
        "set_run_trace_context", "select pgflow.set_run_trace_context(%s, %s)", (run_id, trace)
    )
    _schedule(dsn)
    listed = calls.all("list_schedules", "select schedule_name from pgflow.list_schedules()")
    assert listed == [("s",)]
    paused = calls.one("pause_schedule", "select paused_at from pgflow.pause_schedule('atk', 's')")
    assert paused is not None
    fire = calls.one("trigger_schedule", "select outcome from pgflow.trigger_schedule('atk', 's')")
    assert fire == "triggered"
    assert _state(dsn, run_id) == ("started", {"first": "started", "second": "created"})
    with psycopg.connect(dsn, autocommit=True) as admin:  # a worker of another login
        admin.execute(
            "insert into pgflow.workers (worker_id, queue_name, function_name)"
            " values (gen_random_uuid(), 'atk', 'tests')"
        )
    assert calls.one("live_workers", "select pgflow.live_workers('atk')") == 1
    reasons = calls.all("explain_run", "select reason from pgflow.explain_run(%s)", (run_id,))
    assert ("waiting_for_dependencies",) in reasons
    with pytest.raises(psycopg.Error, match='Step "second" of flow "atk" is not a signal step'):
        calls.one("signal", "select pgflow.signal(%s, 'second', '{}')", (run_id,))


def _sweep_with_nulls(calls: _Calls, functions: dict[str, list[str]]) -> None:
    """Call every function once more with null arguments (errors are fine, attacks are not)."""
    for name, types in functions.items():
        args = sql.SQL(", ").join(sql.SQL("null::{}").format(sql.SQL(t)) for t in types)
        query = sql.SQL("select pgflow.{}({})").format(sql.Identifier(name), args)
        with contextlib.suppress(psycopg.Error):
            calls.conn.execute(query)


def _traces(dsn: str, marker: str) -> dict[str, Any]:
    """Return what the attacker's code leaves behind: nothing unless it ran."""
    with psycopg.connect(dsn, autocommit=True) as admin:
        hits = admin.execute("select is_called from public.attack_hits").fetchone()
        log = admin.execute("select who from public.attack_log").fetchall()
        made = admin.execute(
            "select count(*) from pg_roles where rolname = %s", (marker,)
        ).fetchone()
    assert hits is not None and made is not None
    return {"ran": hits[0], "ran_as": [who for (who,) in log], "role_created": made[0] == 1}


_CLEAN = {"ran": False, "ran_as": [], "role_created": False}


@pytest.mark.parametrize("shadows", ["types", "relations"])
@pytest.mark.parametrize("role", ["pgflow_worker", "pgflow_client"])
def test_shadows_in_pg_temp_never_run_as_the_owner(
    roles_dsn: str, login: Any, marker: str, role: str, shadows: str
) -> None:
    attacker = login(role)
    _plant(attacker, roles_dsn, marker, shadows)
    calls = _Calls(attacker)
    functions = _callable(roles_dsn, role)
    try:
        (_worker_calls if role == "pgflow_worker" else _client_calls)(calls, roles_dsn)
        assert set(functions) - calls.named == set(), (
            f"{role} may execute functions this attack does not call: give them a plausible call"
        )
        _sweep_with_nulls(calls, functions)
    finally:  # checked even when a call failed: the attack is the finding that matters
        traces = _traces(roles_dsn, marker)
        assert traces == _CLEAN, f"the attacker's code ran inside a pgflow function: {traces}"


def test_the_attack_works_where_a_name_resolves_through_pg_temp(
    roles_dsn: str, login: Any, marker: str
) -> None:
    # the detector itself: the same shadows do run the attacker's code, as the caller, where
    # pg_temp comes first (the attacker's own statement here), so the tests above can fail
    attacker = login("pgflow_client")
    _plant(attacker, roles_dsn, marker, "types")
    attacker.execute("set search_path = pg_temp, pg_catalog")
    assert attacker.execute("select 'x'::text").fetchone() == ("x",)
    with psycopg.connect(roles_dsn, autocommit=True) as admin:
        hits = admin.execute("select last_value, is_called from public.attack_hits").fetchone()
        log = admin.execute("select who from public.attack_log").fetchall()
    assert hits == (1, True)
    assert log == [(attacker.info.user,)]


def test_no_pgmq_function_runs_as_its_owner(roles_dsn: str) -> None:
    # pgmq's functions are executable by anyone with USAGE on schema pgmq (the worker role):
    # they must run as their caller, so that the worker's table rights bound what they reach
    with psycopg.connect(roles_dsn, autocommit=True) as conn:
        definers = conn.execute(
            "select p.oid::regprocedure::text from pg_proc p"
            " where p.pronamespace = 'pgmq'::regnamespace and p.prosecdef"
        ).fetchall()
    assert definers == []


# The claim paths that cache a statement per session (SQL PREPARE, reused when the text under
# its name is the expected one): a flow without flow control (pgflow._claim_queue), flows under
# flow control in the round-robin walk (keyed concurrency; a rate limit) and in priority order
# (two steps of different priorities) (pgflow._fc_pick, then the start: pgflow._start_picked,
# with a rate limit pgflow._start_tasks's), and a step with no limit beside a limited one
# (pgflow._claim_free).
_PREPARED_FLOWS: dict[str, list[dict[str, Any]]] = {
    "pln": [{}],
    "fck": [{"concurrency_limit": 5, "concurrency_key": "run.c"}],
    "fcr": [{"rate_limit": 100, "rate_per": 60}],
    "fcp": [{"priority": 5, "concurrency_limit": 5}, {"priority": 1}],
    "fcf": [{"concurrency_limit": 5, "concurrency_key": "run.c"}, {}],
}
# Operators whose pg_catalog versions the statements use, shadowed (for the types in play) in
# a schema listed before pg_catalog; and the functions they call unqualified.
_SHADOW_OPERATORS = ["=", "<>", "<", "<=", ">", ">=", "||", "+", "-", "->"]
_SHADOW_TYPES = ["text", "int4", "int8", "jsonb", "uuid", "timestamptz", "interval", "_int8"]
_SHADOW_FUNCTIONS = {
    "count": "create aggregate {s}.count(*) (sfunc = {s}.count_step, stype = pg_catalog.int8,"
    " initcond = '0')",
    "cardinality": "create function {s}.cardinality(a pg_catalog.int8[]) returns pg_catalog.int4"
    " language plpgsql as $f$ begin perform pg_temp.attack();"
    " return pg_catalog.cardinality(a); end $f$",
    "unnest": "create function {s}.unnest(a pg_catalog.int8[]) returns setof pg_catalog.int8"
    " language plpgsql as $f$ begin perform pg_temp.attack();"
    " return query select pg_catalog.unnest(a); end $f$",
    "now": "create function {s}.now() returns pg_catalog.timestamptz language plpgsql as"
    " $f$ begin perform pg_temp.attack(); return pg_catalog.now(); end $f$",
    "clock_timestamp": "create function {s}.clock_timestamp() returns pg_catalog.timestamptz"
    " language plpgsql as $f$ begin perform pg_temp.attack();"
    " return pg_catalog.clock_timestamp(); end $f$",
    "make_interval": "create function {s}.make_interval(secs pg_catalog.int4)"
    " returns pg_catalog.interval language plpgsql as $f$ begin perform pg_temp.attack();"
    " return pg_catalog.make_interval(secs => secs); end $f$",
    "jsonb_build_object": "create function {s}.jsonb_build_object(a pg_catalog.text,"
    " b pg_catalog.text, c pg_catalog.text, d pg_catalog.uuid, e pg_catalog.text,"
    " f pg_catalog.text, g pg_catalog.text, h pg_catalog.int4) returns pg_catalog.jsonb"
    " language plpgsql as $f$ begin perform pg_temp.attack();"
    " return pg_catalog.jsonb_build_object(a, b, c, d, e, f, g, h); end $f$",
}
# Words followed by "(" in the statements that are SQL syntax, not function calls.
_NOT_FUNCTIONS = {
    "prepare", "as", "operator", "exists", "coalesce", "array", "row", "any", "least", "greatest",
    "in", "lateral", "select", "from", "over", "with", "ordinality", "u", "values", "and", "or",
    "not", "then", "else", "when", "case", "where", "on", "join", "by", "limit", "set", "t",
}  # fmt: skip


def _prepared_flows(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as admin:
        for flow, steps in _PREPARED_FLOWS.items():
            admin.execute("select pgflow.create_flow(%s, base_delay => 0)", (flow,))
            for index, options in enumerate(steps):
                names = "".join(f", {key} => %s" for key in options)
                admin.execute(
                    f"select pgflow.add_step(%s, %s{names})",
                    (flow, f"s{index}", *options.values()),
                )
        control = dict(
            admin.execute(
                "select flow_slug, flow_control from pgflow.flows where flow_slug = any(%s)",
                (list(_PREPARED_FLOWS),),
            ).fetchall()
        )
    assert control == {"pln": False, "fck": True, "fcr": True, "fcp": True, "fcf": True}


def _claim_each(
    worker: psycopg.Connection[Any], dsn: str, wid: uuid.UUID, flows: list[str]
) -> None:
    """Start a run of each flow and claim its tasks, one flow at a time; check what is claimed."""
    for flow in flows:
        steps = _PREPARED_FLOWS[flow]
        run_id = start_run(dsn, flow, '{"c": "k1"}')
        claimed = worker.execute(
            "select run_id, step_slug from pgflow.claim_tasks(array[%s]::text[], %s, 10, 30)",
            (flow, wid),
        ).fetchall()
        assert sorted(claimed) == [(run_id, f"s{i}") for i in range(len(steps))], flow


def _shadow_schema(attacker: psycopg.Connection[Any], schema: str, texts: list[str]) -> None:
    """Fill ``schema`` with operators and functions named like the statements' unqualified ones."""
    s = sql.Identifier(schema)
    called = {
        name.lower()
        for text in texts
        for name in re.findall(r"(?<![.\w$])([A-Za-z_]\w*)\s*\(", re.sub(r"--[^\n]*", "", text))
    }
    # (pgflow_*: the statement's own name, after "prepare")
    missing = {n for n in called - _NOT_FUNCTIONS - set(_SHADOW_FUNCTIONS) if n[:7] != "pgflow_"}
    assert missing == set(), f"unqualified functions this attack does not shadow: {missing}"
    attacker.execute(
        sql.SQL(
            "create function {s}.count_step(n pg_catalog.int8) returns pg_catalog.int8"
            " language plpgsql as $f$ begin perform pg_temp.attack(); return n + 1; end $f$"
        ).format(s=s)
    )
    for statement in _SHADOW_FUNCTIONS.values():
        attacker.execute(sql.SQL(statement).format(s=s))
    operators = attacker.execute(
        "select o.oprname, o.oprleft::regtype::text, o.oprright::regtype::text,"
        " o.oprresult::regtype::text from pg_catalog.pg_operator o"
        " where o.oprnamespace = 'pg_catalog'::regnamespace and o.oprname = any(%s)"
        " and o.oprleft = any(%s::regtype[]) and o.oprright = any(%s::regtype[])"
        # a row comparison ((a, b) > (c, d)) needs its operators in a btree family, which
        # only a superuser may create: the text ones cannot be shadowed for it
        " and not (o.oprname in ('<', '<=', '>', '>=') and o.oprleft = 'text'::regtype)",
        (_SHADOW_OPERATORS, _SHADOW_TYPES, _SHADOW_TYPES),
    ).fetchall()
    assert len(operators) > 40
    for number, (op, left, right, result) in enumerate(operators):
        function = sql.Identifier(f"op_{number}")
        attacker.execute(
            sql.SQL(
                "create function {s}.{f}(a {l}, b {r}) returns {res} language plpgsql as"
                " $f$ begin perform pg_temp.attack(); return a operator(pg_catalog.{op}) b;"
                " end $f$"
            ).format(
                s=s,
                f=function,
                l=sql.SQL(left),
                r=sql.SQL(right),
                res=sql.SQL(result),
                op=sql.SQL(op),
            )
        )
        attacker.execute(
            sql.SQL(
                "create operator {s}.{op} (leftarg = {l}, rightarg = {r}, function = {s}.{f})"
            ).format(s=s, f=function, l=sql.SQL(left), r=sql.SQL(right), op=sql.SQL(op))
        )


# the flows each claim path is taken for, and the statements it prepares
_STATEMENTS = {
    "claim_queue": (["pln"], {"pgflow_claim"}),
    "fc_pick": (
        ["fck", "fcr", "fcp"],
        {
            "pgflow_fc_pick",
            "pgflow_fc_rank",
            "pgflow_fc_free",
            "pgflow_start_ids",
            "pgflow_start_picked",
        },
    ),
    "fc_free": (["fcf"], {"pgflow_fc_free", "pgflow_fc_pick", "pgflow_start_picked"}),
}


def _hostile_search_path(
    attacker: psycopg.Connection[Any], dsn: str, marker: str, shadows: str, texts: list[str]
) -> None:
    """Plant ``shadows`` for ``attacker`` and put them first on its search_path.

    ``types``: pg_temp domains named like the built-in types; ``operators``: a schema of the
    attacker's own holding operators and functions named like those ``texts`` use.
    """
    _plant(attacker, dsn, marker, "types" if shadows == "types" else "none")
    if shadows == "types":
        attacker.execute("set search_path = pg_temp, pg_catalog")
        return
    schema = f"atk_evil_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
        admin.execute(
            sql.SQL("grant usage, create on schema {} to {}").format(
                sql.Identifier(schema), sql.Identifier(attacker.info.user)
            )
        )
    _shadow_schema(attacker, schema, texts)
    attacker.execute(
        sql.SQL("set search_path = {}, pg_temp, pg_catalog").format(sql.Identifier(schema))
    )


@pytest.mark.parametrize("shadows", ["types", "operators"])
@pytest.mark.parametrize("statements", list(_STATEMENTS))
def test_a_statement_prepared_first_by_the_caller_is_never_executed_as_the_owner(
    roles_dsn: str, login: Any, marker: str, statements: str, shadows: str
) -> None:
    # the core caches its claim statements per session (PREPARE, reused when the text under
    # the name is its own): a worker that prepares the same text first, under a search_path
    # that gives its names other meanings, must not get that plan executed as the owner
    _prepared_flows(roles_dsn)
    flows, names = _STATEMENTS[statements]
    honest = login("pgflow_worker")
    wid = uuid.uuid4()
    honest.execute("select pgflow.register_worker(%s, 'pln', 'honest')", (wid,))
    _claim_each(honest, roles_dsn, wid, flows)
    captured = honest.execute(
        "select name, statement from pg_catalog.pg_prepared_statements"
        " where name like 'pgflow\\_%' order by name"
    ).fetchall()
    assert {name.rsplit("_", 1)[0] for name, _ in captured} == names
    honest.close()

    attacker = login("pgflow_worker")  # a fresh session: none of the core's statements
    _hostile_search_path(attacker, roles_dsn, marker, shadows, [text for _, text in captured])
    try:
        for _, text in captured:
            attacker.execute(text)
        # the attacker's own statements from here on resolve no name through its shadows: a
        # hit is the core executing the attacker's plan
        attacker.execute("set search_path = pg_catalog, pg_temp")
        prepared = attacker.execute(
            "select name, statement from pg_catalog.pg_prepared_statements order by name"
        ).fetchall()
        assert prepared == captured
        _claim_each(attacker, roles_dsn, wid, flows)
    finally:  # checked even when a call failed: the attack is the finding that matters
        traces = _traces(roles_dsn, marker)
        assert traces == _CLEAN, f"the attacker's plan ran inside a pgflow function: {traces}"


@pytest.mark.parametrize("statements", list(_STATEMENTS))
def test_a_statement_parsed_first_by_the_caller_with_its_own_parameter_types_is_never_executed(
    roles_dsn: str, login: Any, marker: str, statements: str
) -> None:
    # the same text, named the same, made by a protocol Parse message instead of SQL PREPARE:
    # the client chooses the parameter types (here its pg_temp domains named like the declared
    # ones), which the core's EXECUTE would coerce its arguments to, running the domains'
    # CHECK as the owner. The text may be the core's, but such a statement must be replaced.
    _prepared_flows(roles_dsn)
    flows, names = _STATEMENTS[statements]
    honest = login("pgflow_worker")
    wid = uuid.uuid4()
    honest.execute("select pgflow.register_worker(%s, 'pln', 'honest')", (wid,))
    _claim_each(honest, roles_dsn, wid, flows)
    captured = honest.execute(
        "select name, statement, parameter_types::oid[] from pg_catalog.pg_prepared_statements"
        " where name like 'pgflow\\_%' order by name"
    ).fetchall()
    assert {name.rsplit("_", 1)[0] for name, _, _ in captured} == names
    honest.close()

    attacker = login("pgflow_worker")
    _plant(attacker, roles_dsn, marker, "types")
    try:
        for name, text, types in captured:
            domains = [
                attacker.execute(
                    "select d.oid from pg_catalog.pg_type d join pg_catalog.pg_type b"
                    " on b.oid = %s and d.typname = b.typname"
                    " where d.typnamespace = pg_catalog.pg_my_temp_schema()",
                    (oid,),
                ).fetchone()
                for oid in types
            ]
            assert None not in domains, (name, types)
            result = attacker.pgconn.prepare(
                name.encode(), text.encode(), [d[0] for d in domains if d is not None]
            )
            assert result.status == psycopg.pq.ExecStatus.COMMAND_OK, result.error_message
        parsed = attacker.execute(
            "select name, statement, from_sql from pg_catalog.pg_prepared_statements"
            " where name like 'pgflow\\_%' order by name"
        ).fetchall()
        assert parsed == [(name, text, False) for name, text, _ in captured]
        _claim_each(attacker, roles_dsn, wid, flows)
    finally:
        traces = _traces(roles_dsn, marker)
        assert traces == _CLEAN, f"the attacker's statement ran inside a pgflow function: {traces}"


# _start_ready_steps's send of new tasks (pgflow_start_<md5 of the queue table>), reached by a
# worker completing a task (complete_task, complete_tasks) and by a client starting runs
# (start_flow, start_flows)
def _start_steps(conn: psycopg.Connection[Any], role: str, dsn: str) -> None:
    """Make ``conn``'s session send new tasks of flow atk through each entry point of ``role``."""
    if role == "pgflow_client":
        row = conn.execute("select run_id from pgflow.start_flow('atk', '{}'::jsonb)").fetchone()
        assert row is not None
        batch = conn.execute("select run_id from pgflow.start_flows('atk', '[{}, {}]'::jsonb)")
        runs = [row[0], *(r[0] for r in batch.fetchall())]
        expected = {(run_id, "first") for run_id in runs}
    else:
        wid = uuid.uuid4()
        conn.execute("select pgflow.register_worker(%s, 'atk', 'w')", (wid,))
        runs = [start_run(dsn, "atk"), start_run(dsn, "atk")]
        claim = "select run_id, step_slug from pgflow.claim_tasks(array['atk'], %s, 10, 30)"
        claimed = set(conn.execute(claim, (wid,)).fetchall())  # (and earlier runs' tasks)
        assert {(run_id, "first") for run_id in runs} <= claimed
        conn.execute(
            "select count(*) from pgflow.complete_task(run_id => %s, step_slug => 'first',"
            " task_index => 0, output => '1'::jsonb)",
            (runs[0],),
        )
        done = [{"run_id": str(runs[1]), "step_slug": "first", "task_index": 0, "output": 1}]
        conn.execute("select * from pgflow.complete_tasks(%s)", (Jsonb(done),)).fetchall()
        expected = {(run_id, "second") for run_id in runs}
    with psycopg.connect(dsn, autocommit=True) as admin:
        queued = admin.execute(
            "select t.run_id, t.step_slug from pgflow.step_tasks t"
            " join pgmq.q_atk q on q.msg_id = t.message_id"
            " where t.status = 'queued' and t.run_id = any(%s)",
            (runs,),
        ).fetchall()
    assert set(queued) == expected


@pytest.mark.parametrize("shadows", ["types", "operators"])
def test_the_send_prepared_first_by_the_caller_is_never_executed_as_the_owner(
    roles_dsn: str, login: Any, marker: str, shadows: str
) -> None:
    # the send statement of _start_ready_steps, prepared by the caller first (same name, same
    # text) under a search_path that gives its names other meanings, then reached through
    # complete_task and complete_tasks: the attacker's plan must never run as the owner. (A
    # client alone cannot SQL-prepare the text: it has no usage on schema pgmq. A protocol
    # Parse message needs none: the next test.)
    role = "pgflow_worker"
    honest = login(role)
    _start_steps(honest, role, roles_dsn)
    captured = honest.execute(
        "select name, statement from pg_catalog.pg_prepared_statements"
        " where name like 'pgflow\\_start\\_%' order by name"
    ).fetchall()
    assert len(captured) == 1
    honest.close()

    attacker = login(role)
    _hostile_search_path(attacker, roles_dsn, marker, shadows, [text for _, text in captured])
    try:
        for _, text in captured:
            attacker.execute(text)
        attacker.execute("set search_path = pg_catalog, pg_temp")
        prepared = attacker.execute(
            "select name, statement from pg_catalog.pg_prepared_statements order by name"
        ).fetchall()
        assert prepared == captured
        _start_steps(attacker, role, roles_dsn)
    finally:
        traces = _traces(roles_dsn, marker)
        assert traces == _CLEAN, f"the attacker's plan ran inside a pgflow function: {traces}"


@pytest.mark.parametrize("role", ["pgflow_worker", "pgflow_client"])
def test_the_send_parsed_first_by_the_caller_with_its_own_parameter_types_is_never_executed(
    roles_dsn: str, login: Any, marker: str, role: str
) -> None:
    # the same text under the same name, made by a protocol Parse message whose parameter
    # types are the attacker's pg_temp domains (and their array types): it must be replaced
    honest = login(role)
    _start_steps(honest, role, roles_dsn)
    captured = honest.execute(
        "select name, statement, parameter_types::oid[] from pg_catalog.pg_prepared_statements"
        " where name like 'pgflow\\_start\\_%' order by name"
    ).fetchall()
    assert len(captured) == 1
    honest.close()

    attacker = login(role)
    _plant(attacker, roles_dsn, marker, "types")
    try:
        for name, text, types in captured:
            domains = [
                attacker.execute(
                    "select d.oid from pg_catalog.pg_type d join pg_catalog.pg_type b"
                    " on b.oid = %s and d.typname = b.typname"
                    " where d.typnamespace = pg_catalog.pg_my_temp_schema()",
                    (oid,),
                ).fetchone()
                for oid in types
            ]
            assert None not in domains, (name, types)
            result = attacker.pgconn.prepare(
                name.encode(), text.encode(), [d[0] for d in domains if d is not None]
            )
            assert result.status == psycopg.pq.ExecStatus.COMMAND_OK, result.error_message
        _start_steps(attacker, role, roles_dsn)
    finally:
        traces = _traces(roles_dsn, marker)
        assert traces == _CLEAN, f"the attacker's statement ran inside a pgflow function: {traces}"
