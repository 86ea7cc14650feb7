-- start_flow(flow_slug, input, run_id, idempotency_key, priority): start a run of a flow: one step state
-- per step, then conditions, taskless steps (empty root maps) and the root steps' tasks; the run
-- may come back already completed or failed. run_id is the caller's or a random one. With an
-- idempotency_key that a run of the flow already has (until that run is pruned), nothing starts
-- and that run's row is returned, even when the two starts race. priority (null: none) is the
-- run's override of the flow's and steps' priorities (docs/flow-control.md; it is also set on a
-- run an idempotency key returns). Returns the run row.
-- Raises: 'Flow "%" does not exist' (foreign_key_violation on runs_flow_slug_fkey, as 0.8.1);
-- 'Flow % has root map steps but input is NULL'; 'Flow % has root map steps but input is not an
-- array (got %)'; runs_pkey (run_id already used); 'Cascade loop exceeded safety limit ...'.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.start_flow(
  flow_slug text,
  input jsonb,
  run_id uuid default null,
  idempotency_key text default null,
  priority int default null
)
returns setof pgflow.runs
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan to off
set jit to off
as $$
#variable_conflict use_column
declare
  v_run_id uuid := coalesce(start_flow.run_id, pgflow._time_ordered_uuid());
begin
  v_run_id := (pgflow._start_runs(
    start_flow.flow_slug, array[start_flow.input], array[v_run_id],
    case when start_flow.idempotency_key is not null then array[start_flow.idempotency_key] end
  ))[1];
  if start_flow.priority is not null then
    perform pgflow._fc_set_run_priority(start_flow.flow_slug, array[v_run_id], start_flow.priority);
  end if;
  return query select * from pgflow.runs r where r.run_id = v_run_id;
end;
$$;
