-- The role grants of pgflow-yaml core 0.2.0 (sql/roles/ of that release), frozen: the upgrade
-- tests apply them to a 0.2.0 database to prove that 0.3.0 takes back what they granted too broadly.

-- Create the NOLOGIN role pgflow_worker (once per cluster) and grant it what a worker needs:
-- claim, start, complete, fail, release and requeue tasks (functions that run as their owner),
-- register and heartbeat in pgflow.workers, read the flow definitions, and read, archive and
-- set_vt on the pgmq queue of every flow (pgflow 0.8.1 workers read queues directly).
-- Queues of flows created later by the installing role are covered by default privileges;
-- re-run `pgflow install --roles` after flows created by another role.
-- Raises nothing; re-runnable (a role created concurrently by another database is tolerated).
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

grant select, insert, update on pgflow.workers to pgflow_worker;

grant select on pgflow.flows, pgflow.steps, pgflow.deps to pgflow_worker;

do $pgflow_worker_grants$
declare
  fn regprocedure;
  queue text;
begin
  for fn in
    select p.oid::regprocedure
    from pg_catalog.pg_proc as p
    where p.pronamespace = 'pgflow'::regnamespace
      and p.proname = any (array[
        'start_tasks', 'complete_task', 'fail_task', 'claim_tasks', 'complete_tasks',
        'fail_tasks', 'release_tasks', 'requeue_stalled_tasks', 'mark_worker_stopped', 'compare_flow_shape',
        'is_valid_slug', 'calculate_retry_delay'
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

  for queue in select f.flow_slug from pgflow.flows as f
  loop
    execute pg_catalog.format(
      'grant select, update, delete on table pgmq.%I to pgflow_worker',
      pgmq.format_table_name(queue, 'q')
    );
    execute pg_catalog.format(
      'grant select, insert on table pgmq.%I to pgflow_worker',
      pgmq.format_table_name(queue, 'a')
    );
  end loop;
end
$pgflow_worker_grants$;

alter default privileges in schema pgmq grant select, insert, update, delete on tables to pgflow_worker;

-- Create the NOLOGIN role pgflow_client (once per cluster) and grant it what an application
-- needs to drive runs: start_flow, start_flows, start_flow_with_states, get_run_with_states,
-- cancel_run, retry_run (functions that run as their owner), and reading runs, step states,
-- tasks and flow definitions (what `pgflow status` and pgflow_yaml.Client show). No writes,
-- nothing on queues.
-- Raises nothing; re-runnable (a role created concurrently by another database is tolerated).
do $pgflow_role$
begin
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'pgflow_client') then
    create role pgflow_client nologin;
  end if;
exception
  when duplicate_object or unique_violation then
    null;
end
$pgflow_role$;

grant usage on schema pgflow to pgflow_client;

grant select on pgflow.runs, pgflow.step_states, pgflow.step_tasks to pgflow_client;

grant select on pgflow.flows, pgflow.steps, pgflow.deps to pgflow_client;

do $pgflow_client_grants$
declare
  fn regprocedure;
begin
  for fn in
    select p.oid::regprocedure
    from pg_catalog.pg_proc as p
    where p.pronamespace = 'pgflow'::regnamespace
      and p.proname = any (array[
        'start_flow', 'start_flows', 'start_flow_with_states', 'get_run_with_states', 'cancel_run',
        'retry_run'
      ])
  loop
    execute pg_catalog.format('grant execute on function %s to pgflow_client', fn);
  end loop;
end
$pgflow_client_grants$;
