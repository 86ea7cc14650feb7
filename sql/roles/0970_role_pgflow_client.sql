-- Create the NOLOGIN role pgflow_client (once per cluster) and grant it what an application
-- needs to drive runs: start_flow, start_flows, start_flow_with_states, get_run_with_states,
-- cancel_run, retry_run, live_workers, signal, explain_run (functions that run as their owner), and reading
-- runs, step states, tasks and flow definitions (what `pgflow status` and pgflow_yaml.Client
-- show). No writes, nothing on queues. Of pgflow.workers: reading every row but the login that
-- registered it (registered_by), through a select-only policy for this role (the dashboard's
-- Workers page and /metrics; `pgflow ui` runs as pgflow_client).
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

grant select (worker_id, queue_name, function_name, started_at, deprecated_at, stopped_at,
  last_heartbeat_at) on pgflow.workers to pgflow_client;

drop policy if exists workers_read_by_clients on pgflow.workers;

create policy workers_read_by_clients on pgflow.workers for select to pgflow_client
  using (true);

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
        'retry_run', 'set_run_trace_context', 'live_workers', 'list_schedules', 'pause_schedule',
        'trigger_schedule', 'signal', 'explain_run'
      ])
  loop
    execute pg_catalog.format('grant execute on function %s to pgflow_client', fn);
  end loop;
end
$pgflow_client_grants$;
