-- _start_runs(flow_slug, inputs, run_ids, idempotency_keys): start one run of a flow per input,
-- set-based: the run rows, one step state per run and step, then per run its conditions and
-- taskless steps (empty root maps), and finally the root steps' tasks of all the runs with one
-- queue insert (_start_ready_steps). A run may come back already completed or failed. run_ids[i]
-- is the id of the run of inputs[i] (callers pass fresh ids when the user gave none).
-- idempotency_keys[i] (null, or the array itself null: no key) names the run of inputs[i] for
-- its flow: when a run of the flow already has that key (committed, or committed by a
-- concurrent start this one waits for), or an earlier input of the same call has it, nothing is
-- started for inputs[i] and its place in the result holds that run's id. Internal: the batch
-- behind start_flow and start_flows. Returns the run ids in input order.
-- Raises: 'Flow "%" does not exist' (foreign_key_violation on runs_flow_slug_fkey, as 0.8.1);
-- 'Flow % has root map steps but input is NULL'; 'Flow % has root map steps but input is not an
-- array (got %)' (both with DETAIL 'inputs[i]', 0-based, when there are several inputs); runs_pkey (a run_id already used);
-- 'start_flows got % inputs but % idempotency keys'; 'Cascade loop exceeded safety limit ...'.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._start_runs(
  flow_slug text,
  inputs jsonb[],
  run_ids uuid[],
  idempotency_keys text[] default null
)
returns uuid[]
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_bad record;
  v_run_id uuid;
  v_message text;
  v_ids uuid[] := _start_runs.run_ids;  -- the runs this call inserts, in input order
  v_inputs jsonb[] := _start_runs.inputs;
begin
  if not exists (select 1 from pgflow.flows f where f.flow_slug = _start_runs.flow_slug) then
    raise exception 'Flow "%" does not exist', _start_runs.flow_slug
      using errcode = 'foreign_key_violation', constraint = 'runs_flow_slug_fkey';
  end if;
  if _start_runs.idempotency_keys is not null
    and cardinality(_start_runs.idempotency_keys) <> cardinality(_start_runs.inputs) then
    raise exception 'start_flows got % inputs but % idempotency keys',
      cardinality(_start_runs.inputs), cardinality(_start_runs.idempotency_keys);
  end if;

  if exists (
    select 1 from pgflow.steps s
    where s.flow_slug = _start_runs.flow_slug and s.step_type = 'map' and s.deps_count = 0
  ) then
    select u.input, u.ord - 1 as position into v_bad
    from unnest(_start_runs.inputs) with ordinality as u(input, ord)
    where u.input is null or jsonb_typeof(u.input) <> 'array'
    order by u.ord
    limit 1;
    if found then
      v_message := case when v_bad.input is null
        then format('Flow %s has root map steps but input is NULL', _start_runs.flow_slug)
        else format('Flow %s has root map steps but input is not an array (got %s)',
          _start_runs.flow_slug, jsonb_typeof(v_bad.input))
      end;
      if cardinality(_start_runs.inputs) > 1 then
        raise exception using message = v_message,
          detail = format('inputs[%s]', v_bad.position);
      end if;
      raise exception using message = v_message;
    end if;
  end if;

  perform pgflow._lock_start_slots(_start_runs.flow_slug, _start_runs.inputs);  -- flow concurrency
  if _start_runs.idempotency_keys is null then
    insert into pgflow.runs (run_id, flow_slug, input, remaining_steps)
    select u.run_id, _start_runs.flow_slug, u.input,
           (select count(*) from pgflow.steps s where s.flow_slug = _start_runs.flow_slug)
    from unnest(_start_runs.run_ids, _start_runs.inputs) with ordinality as u(run_id, input, ord)
    order by u.ord;
  else
    -- a key already taken (or taken by a concurrent start that commits while this insert
    -- waits for it, or by an earlier input of this call) inserts nothing
    with inserted as (
      insert into pgflow.runs (run_id, flow_slug, input, remaining_steps, idempotency_key)
      select u.run_id, _start_runs.flow_slug, u.input,
             (select count(*) from pgflow.steps s where s.flow_slug = _start_runs.flow_slug),
             u.key
      from unnest(_start_runs.run_ids, _start_runs.inputs, _start_runs.idempotency_keys)
        with ordinality as u(run_id, input, key, ord)
      order by u.ord
      on conflict (flow_slug, idempotency_key) where idempotency_key is not null do nothing
      returning run_id
    )
    select coalesce(array_agg(u.run_id order by u.ord), '{}'),
           coalesce(array_agg(u.input order by u.ord), '{}')
    into v_ids, v_inputs
    from unnest(_start_runs.run_ids, _start_runs.inputs) with ordinality as u(run_id, input, ord)
    where u.run_id in (select i.run_id from inserted i);
  end if;

  if cardinality(v_ids) > 0 then
    insert into pgflow.step_states (flow_slug, run_id, step_slug, remaining_deps, initial_tasks)
    select
      s.flow_slug,
      u.run_id,
      s.step_slug,
      s.deps_count,
      case
        when s.step_type = 'single' then 1
        when s.deps_count = 0 and jsonb_typeof(u.input) = 'array' then jsonb_array_length(u.input)
      end
    from unnest(v_ids, v_inputs) with ordinality as u(run_id, input, ord)
    cross join pgflow.steps s
    where s.flow_slug = _start_runs.flow_slug
    order by u.ord, s.step_index;
    perform pgflow._queue_new_runs(_start_runs.flow_slug, v_ids);  -- flow concurrency

    if to_regnamespace('realtime') is not null then
      perform pgflow._emit('run:started', pgflow._run_event(r), r.run_id)
      from unnest(v_ids) with ordinality as u(run_id, ord)
      join pgflow.runs r on r.run_id = u.run_id
      order by u.ord;
    end if;

    -- conditions and taskless steps run by run; the ready steps of all runs start together
    foreach v_run_id in array v_ids loop
      perform pgflow._advance_run(v_run_id, false);
    end loop;
    perform pgflow._start_ready_steps(v_ids);
  end if;

  if _start_runs.idempotency_keys is null then
    return _start_runs.run_ids;
  end if;
  return array(
    select coalesce(r.run_id, u.run_id)
    from unnest(_start_runs.run_ids, _start_runs.idempotency_keys)
      with ordinality as u(run_id, key, ord)
    left join pgflow.runs r
      on r.flow_slug = _start_runs.flow_slug and r.idempotency_key = u.key
    order by u.ord
  );
end;
$$;
