-- start_flows(flow_slug, inputs, run_ids, idempotency_keys, priority): start one run per element of the JSON array inputs
-- in one call, set-based (what start_flow does for one input, at a fraction of the cost per
-- run: the root steps' tasks of all the runs are sent with one queue insert). run_ids, when
-- given, holds the id of each run in input order (same length as inputs); otherwise fresh
-- time-ordered ids are used. idempotency_keys, when given, holds a key (or null) per input: an
-- input whose key a run of the flow (or an earlier input) already has starts nothing, and its
-- row is that run's. priority (null: none) is every run's priority override, as in start_flow.
-- Returns the run rows in input order.
-- Raises what start_flow raises (the root-map input errors name the input: DETAIL
-- 'inputs[i]'); 'start_flows expects a JSON array of inputs, got %'; 'start_flows got % inputs
-- but % run ids'; 'start_flows got % inputs but % idempotency keys'.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.start_flows(
  flow_slug text,
  inputs jsonb,
  run_ids uuid[] default null,
  idempotency_keys text[] default null,
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
  v_inputs jsonb[];
  v_run_ids uuid[];
begin
  if jsonb_typeof(start_flows.inputs) is distinct from 'array' then
    raise exception 'start_flows expects a JSON array of inputs, got %',
      coalesce(jsonb_typeof(start_flows.inputs), 'null');
  end if;
  v_inputs := array(select e from jsonb_array_elements(start_flows.inputs) e);
  if start_flows.run_ids is null then
    v_run_ids := array(select pgflow._time_ordered_uuid() from unnest(v_inputs));
  elsif cardinality(start_flows.run_ids) <> cardinality(v_inputs) then
    raise exception 'start_flows got % inputs but % run ids',
      cardinality(v_inputs), cardinality(start_flows.run_ids);
  else
    v_run_ids := array(select coalesce(u.id, pgflow._time_ordered_uuid())
                       from unnest(start_flows.run_ids) with ordinality as u(id, ord)
                       order by u.ord);
  end if;
  v_run_ids := pgflow._start_runs(
    start_flows.flow_slug, v_inputs, v_run_ids, start_flows.idempotency_keys
  );
  if start_flows.priority is not null then
    perform pgflow._fc_set_run_priority(start_flows.flow_slug, v_run_ids, start_flows.priority);
  end if;

  return query
    select r.*
    from unnest(v_run_ids) with ordinality as u(run_id, ord)
    join pgflow.runs r on r.run_id = u.run_id
    order by u.ord;
end;
$$;
