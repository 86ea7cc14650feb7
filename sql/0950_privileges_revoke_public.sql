-- Take every default privilege of PUBLIC away from the pgflow schema: no EXECUTE on its
-- functions, no USAGE on the schema, nothing on its tables. (PostgreSQL cannot revoke PUBLIC's
-- default EXECUTE per schema, so every upgrade re-runs this file instead.)
-- The functions that the worker and client roles call (sql/roles/) run as their owner, so those
-- roles need no privileges on the tables of runs, states and tasks (tests/install checks that
-- every function pins search_path = pg_catalog, pg_temp, and attacks it from pg_temp).
-- Raises nothing.
-- Re-run after every upgrade (files numbered 0950 and above are re-applied).
revoke all on schema pgflow from public;

revoke all on all functions in schema pgflow from public;

revoke all on all tables in schema pgflow from public;

do $pgflow_definer$
declare
  fn regprocedure;
begin
  for fn in
    select p.oid::regprocedure
    from pg_catalog.pg_proc as p
    where p.pronamespace = 'pgflow'::regnamespace
      and p.proname = any (array[
        -- worker calls (pgflow 0.8.1 protocol and our batched additions)
        'start_tasks', 'complete_task', 'fail_task',
        'claim_tasks', 'complete_tasks', 'fail_tasks', 'release_tasks', 'requeue_stalled_tasks',
        'register_worker', 'heartbeat_worker', 'mark_worker_stopped', 'run_trace_contexts',
        'complete_and_claim',
        -- signal steps (timeouts by the worker, signals by the client)
        'expire_waiting_steps', 'signal',
        -- sub-flow steps (retries and orphaned children, by the worker's maintenance)
        'start_due_subflows',
        -- schedules (fired by workers)
        'fire_schedules',
        -- client calls
        'start_flow', 'start_flows', 'start_flow_with_states', 'get_run_with_states', 'cancel_run',
        'retry_run', 'set_run_trace_context', 'live_workers', 'list_schedules', 'pause_schedule',
        'trigger_schedule', 'explain_run'
      ])
  loop
    execute pg_catalog.format('alter function %s security definer', fn);
  end loop;
end
$pgflow_definer$;
