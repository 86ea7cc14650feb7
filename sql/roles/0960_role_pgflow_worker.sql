-- Create the NOLOGIN role pgflow_worker (once per cluster) and grant it what a worker needs, and
-- nothing else (docs/install.md lists every right and why):
-- - claim, start, complete, fail, release and requeue tasks, register, heartbeat and stop
--   (functions that run as their owner), compare a flow's shape, read the flow definitions;
-- - pgflow.workers directly, as pgflow 0.8.1 workers use it: select, insert of (worker_id,
--   queue_name, function_name), update of last_heartbeat_at; row-level security (sql/0055)
--   limits every login to the rows it registered;
-- - on each flow's pgmq queue exactly what pgmq.read / read_with_poll / set_vt / archive need
--   (pgflow._grant_flow_queue; create_flow grants a queue it creates). No right on any other
--   table of schema pgmq: no application queue, no send into a flow queue.
-- Re-running it (every `pgflow install --roles`, and every upgrade of a database with roles)
-- also removes what 0.2.0 granted too broadly: its default privileges in schema pgmq and the
-- rights they gave on tables that are not flow queues.
-- Raises: 'pgflow_worker has default privileges in schema pgmq from role %...' when the
-- installing role may not remove them; re-runnable (a role created concurrently by another
-- database is tolerated).
do $pgflow_role$
begin
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'pgflow_worker') then
    create role pgflow_worker nologin;
  end if;
exception
  when duplicate_object or unique_violation then
    null;
end
$pgflow_role$;

grant usage on schema pgflow to pgflow_worker;

grant usage on schema pgmq to pgflow_worker;

revoke all on pgflow.workers from pgflow_worker;

grant select, insert (worker_id, queue_name, function_name), update (last_heartbeat_at)
  on pgflow.workers to pgflow_worker;

grant select on pgflow.flows, pgflow.steps, pgflow.deps to pgflow_worker;

do $pgflow_worker_grants$
declare
  fn regprocedure;
begin
  for fn in
    select p.oid::regprocedure
    from pg_catalog.pg_proc as p
    where p.pronamespace = 'pgflow'::regnamespace
      and p.proname = any (array[
        'start_tasks', 'complete_task', 'fail_task', 'claim_tasks', 'complete_tasks',
        'fail_tasks', 'release_tasks', 'requeue_stalled_tasks', 'register_worker',
        'heartbeat_worker', 'mark_worker_stopped', 'compare_flow_shape', 'is_valid_slug',
        'calculate_retry_delay', 'run_trace_contexts', 'list_schedules', 'fire_schedules',
        'expire_waiting_steps', 'start_due_subflows', 'complete_and_claim'
      ])
  loop
    execute pg_catalog.format('grant execute on function %s to pgflow_worker', fn);
  end loop;

  for fn in
    select p.oid::regprocedure
    from pg_catalog.pg_proc as p
    where p.pronamespace = 'pgmq'::regnamespace
      and p.proname = any (array[
        'read', 'read_with_poll', 'archive', 'set_vt', 'format_table_name', 'validate_queue_name'
      ])
  loop
    execute pg_catalog.format('grant execute on function %s to pgflow_worker', fn);
  end loop;
end
$pgflow_worker_grants$;

do $pgflow_worker_queues$
declare
  v_default record;
  v_table record;
  v_flow record;
begin
  -- 0.2.0 ran `alter default privileges in schema pgmq grant ... on tables to pgflow_worker`
  for v_default in
    select d.defaclrole::regrole as owner, d.defaclobjtype
    from pg_catalog.pg_default_acl d
    where d.defaclnamespace = 'pgmq'::regnamespace
      and exists (
        select 1 from pg_catalog.aclexplode(d.defaclacl) a
        where a.grantee = 'pgflow_worker'::regrole
      )
  loop
    if not pg_catalog.pg_has_role(current_user, v_default.owner, 'member') then
      raise exception 'pgflow_worker has default privileges in schema pgmq from role %, which'
        ' only that role can remove', v_default.owner
        using hint = pg_catalog.format(
          'run as %s: alter default privileges in schema pgmq revoke all on %s from'
          ' pgflow_worker; then run pgflow install --roles again', v_default.owner,
          case v_default.defaclobjtype
            when 'r' then 'tables' when 'S' then 'sequences' when 'f' then 'functions'
            else 'types'
          end
        );
    end if;
    execute pg_catalog.format(
      'alter default privileges for role %s in schema pgmq revoke all on %s from pgflow_worker',
      v_default.owner,
      case v_default.defaclobjtype
        when 'r' then 'tables' when 'S' then 'sequences' when 'f' then 'functions'
        else 'types'
      end
    );
  end loop;

  -- what the worker holds on tables of schema pgmq that are not flow queues (0.2.0's default
  -- privileges gave it every queue created later, an application's own included)
  for v_table in
    select c.oid::regclass as rel, c.relowner::regrole as owner
    from pg_catalog.pg_class c
    where c.relnamespace = 'pgmq'::regnamespace
      and exists (
        select 1 from pg_catalog.aclexplode(c.relacl) a
        where a.grantee = 'pgflow_worker'::regrole
      )
      and c.relname not in (
        select pgmq.format_table_name(f.flow_slug, k.kind)
        from pgflow.flows f cross join (values ('q'), ('a')) as k(kind)
      )
  loop
    if pg_catalog.pg_has_role(current_user, v_table.owner, 'usage') then
      execute pg_catalog.format('revoke all on table %s from pgflow_worker', v_table.rel);
    else
      raise warning 'pgflow_worker keeps its rights on %, which is not a flow queue: only its'
        ' owner % can revoke them', v_table.rel, v_table.owner;
    end if;
  end loop;

  for v_flow in
    select f.flow_slug, c.relowner::regrole as owner
    from pgflow.flows f
    join pg_catalog.pg_class c
      on c.relnamespace = 'pgmq'::regnamespace
     and c.relname = pgmq.format_table_name(f.flow_slug, 'q')
    order by f.flow_slug
  loop
    if pg_catalog.pg_has_role(current_user, v_flow.owner, 'usage') then
      perform pgflow._grant_flow_queue(v_flow.flow_slug);
    else
      raise warning 'the queue of flow % belongs to %: run pgflow install --roles as that role'
        ' to grant pgflow_worker its rights there', v_flow.flow_slug, v_flow.owner;
    end if;
  end loop;
end
$pgflow_worker_queues$;
