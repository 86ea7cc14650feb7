-- start_flow_with_states(flow_slug, input, run_id, idempotency_key): start_flow, then return the
-- run's snapshot (with a known idempotency_key: the existing run's) as get_run_with_states does. Raises what start_flow raises.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.start_flow_with_states(
  flow_slug text,
  input jsonb,
  run_id uuid default null,
  idempotency_key text default null
)
returns jsonb
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_run_id uuid;
begin
  select r.run_id into v_run_id
  from pgflow.start_flow(
    start_flow_with_states.flow_slug, start_flow_with_states.input, start_flow_with_states.run_id,
    start_flow_with_states.idempotency_key
  ) r;
  return pgflow.get_run_with_states(v_run_id);
end;
$$;
