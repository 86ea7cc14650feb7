-- start_flow(flow_slug, input, run_id): start a run of a flow: one step state per step, then
-- conditions, taskless steps (empty root maps) and the root steps' tasks; the run may come back
-- already completed or failed. run_id is the caller's or a random one. Returns the run row.
-- Raises: 'Flow "%" does not exist' (foreign_key_violation on runs_flow_slug_fkey, as 0.8.1);
-- 'Flow % has root map steps but input is NULL'; 'Flow % has root map steps but input is not an
-- array (got %)'; runs_pkey (run_id already used); 'Cascade loop exceeded safety limit ...'.
set search_path to '';

create or replace function pgflow.start_flow(flow_slug text, input jsonb, run_id uuid default null)
returns setof pgflow.runs
language plpgsql
volatile
set search_path to ''
set enable_seqscan to off
as $$
#variable_conflict use_column
declare
  v_run_id uuid := coalesce(start_flow.run_id, pgflow._time_ordered_uuid());
  v_input_length int;
begin
  if not exists (select 1 from pgflow.flows f where f.flow_slug = start_flow.flow_slug) then
    raise exception 'Flow "%" does not exist', start_flow.flow_slug
      using errcode = 'foreign_key_violation', constraint = 'runs_flow_slug_fkey';
  end if;

  if exists (
    select 1 from pgflow.steps s
    where s.flow_slug = start_flow.flow_slug and s.step_type = 'map' and s.deps_count = 0
  ) then
    if start_flow.input is null then
      raise exception 'Flow % has root map steps but input is NULL', start_flow.flow_slug;
    end if;
    if jsonb_typeof(start_flow.input) <> 'array' then
      raise exception 'Flow % has root map steps but input is not an array (got %)',
        start_flow.flow_slug, jsonb_typeof(start_flow.input);
    end if;
  end if;

  if jsonb_typeof(start_flow.input) = 'array' then
    v_input_length := jsonb_array_length(start_flow.input);
  end if;

  insert into pgflow.runs (run_id, flow_slug, input, remaining_steps)
  values (
    v_run_id,
    start_flow.flow_slug,
    start_flow.input,
    (select count(*) from pgflow.steps s where s.flow_slug = start_flow.flow_slug)
  );

  insert into pgflow.step_states (flow_slug, run_id, step_slug, remaining_deps, initial_tasks)
  select
    s.flow_slug,
    v_run_id,
    s.step_slug,
    s.deps_count,
    case
      when s.step_type = 'single' then 1
      when s.deps_count = 0 then v_input_length
    end
  from pgflow.steps s
  where s.flow_slug = start_flow.flow_slug;

  perform pgflow._advance_run(v_run_id);

  return query select * from pgflow.runs r where r.run_id = v_run_id;
end;
$$;
