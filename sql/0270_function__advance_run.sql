-- _advance_run(run_id, start_steps): move a started run as far as it goes without a worker:
-- resolve the conditions of ready steps (when_unmet fail / skip / skip-cascade), complete
-- taskless steps (empty maps) and signal steps whose signals came early (pending_signals), and
-- repeat until nothing changes, so steps that become ready inside the cascade have their
-- conditions checked too; then start the ready steps (unless
-- start_steps is false: a batch caller starts those of all its runs at once with
-- _start_ready_steps) and complete the run when done.
-- Internal; the caller holds the run lock.
-- Raises: 'Cascade loop exceeded safety limit of % iterations'.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._advance_run(run_id uuid, start_steps boolean default true)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  c_max_iterations constant int := 1000;
  v_iteration int := 0;
  v_changed boolean;
  v_slugs text[];
  v_types text[];
  v_initial int[];
  v_required jsonb[];
  v_forbidden jsonb[];
  v_when_unmet text[];
  v_input jsonb;
  v_signal record;
  v_output jsonb;
begin
  if not exists (
    select 1 from pgflow.runs r where r.run_id = _advance_run.run_id and r.status = 'started'
  ) then
    return;
  end if;

  loop
    v_iteration := v_iteration + 1;
    if v_iteration > c_max_iterations then
      raise exception 'Cascade loop exceeded safety limit of % iterations', c_max_iterations;
    end if;

    -- one snapshot of the ready steps that need work before starting: conditions to resolve or
    -- no tasks; children they make ready wait for the next round (conditions first, again)
    select array_agg(ss.step_slug order by s.step_index),
           array_agg(s.step_type order by s.step_index),
           array_agg(ss.initial_tasks order by s.step_index),
           array_agg(s.required_input_pattern order by s.step_index),
           array_agg(s.forbidden_input_pattern order by s.step_index),
           array_agg(s.when_unmet order by s.step_index)
    into v_slugs, v_types, v_initial, v_required, v_forbidden, v_when_unmet
    from pgflow.step_states ss
    join pgflow.steps s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
    where ss.run_id = _advance_run.run_id
      and ss.status = 'created'
      and ss.remaining_deps = 0
      and (
        ss.initial_tasks = 0
        or s.required_input_pattern is not null
        or s.forbidden_input_pattern is not null
        or (
          s.signal_schema is not null and exists (
            select 1 from pgflow.pending_signals ps
            where ps.run_id = ss.run_id and ps.step_slug = ss.step_slug
          )
        )
      );
    exit when v_slugs is null;
    v_changed := false;

    -- conditions
    for i in 1 .. cardinality(v_slugs) loop
      continue when v_required[i] is null and v_forbidden[i] is null;
      continue when not exists (
        select 1 from pgflow.step_states ss
        where ss.run_id = _advance_run.run_id and ss.step_slug = v_slugs[i] and ss.status = 'created'
      );
      v_input := pgflow._condition_input(_advance_run.run_id, v_slugs[i]);
      continue when (v_required[i] is null or v_input @> v_required[i])
        and (v_forbidden[i] is null or not v_input @> v_forbidden[i]);

      v_changed := true;
      if v_when_unmet[i] = 'fail' then
        perform pgflow._fail_run(_advance_run.run_id, v_slugs[i], 'Condition not met');
        return;
      end if;
      perform pgflow._skip_steps(
        _advance_run.run_id, v_slugs[i], 'condition_unmet', v_when_unmet[i] = 'skip-cascade'
      );
    end loop;

    -- taskless steps (a map over an empty array) complete at once
    for i in 1 .. cardinality(v_slugs) loop
      continue when v_initial[i] is distinct from 0;
      if pgflow._complete_step(
        _advance_run.run_id, v_slugs[i], case when v_types[i] = 'map' then '[]'::jsonb end
      ) then
        v_changed := true;
      end if;
    end loop;

    -- signals that arrived early complete their signal step as soon as the step is ready (a
    -- map step: once there is one for every element)
    for v_signal in
      select ss.step_slug, s.step_type, ss.initial_tasks
      from pgflow.step_states ss
      join pgflow.steps s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
      where ss.run_id = _advance_run.run_id
        and ss.step_slug = any(v_slugs)
        and ss.status = 'created'
        and s.signal_schema is not null
        and ss.initial_tasks > 0
    loop
      v_output := pgflow._take_signals(
        _advance_run.run_id, v_signal.step_slug, v_signal.step_type, v_signal.initial_tasks
      );
      continue when v_output is null;
      if pgflow._complete_step(_advance_run.run_id, v_signal.step_slug, v_output) then
        v_changed := true;
      end if;
    end loop;

    exit when not v_changed;
  end loop;

  if _advance_run.start_steps then
    perform pgflow._start_ready_steps(array[_advance_run.run_id]);
  end if;
  -- (only a run with no step left can complete: the test is cheaper than the call's update)
  if exists (
    select 1 from pgflow.runs r where r.run_id = _advance_run.run_id and r.remaining_steps = 0
  ) then
    perform pgflow.maybe_complete_run(_advance_run.run_id);
  end if;
end;
$$;
