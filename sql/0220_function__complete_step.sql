-- _complete_step(run_id, step_slug, output): mark a created, started or waiting step completed with its
-- output, count its children's dependencies down (a map child learns its task count from the
-- output's length) and the run's remaining steps. Internal; the caller holds the run lock and
-- has checked that a map child's source is an array. Sends the step:completed event (_emit).
-- Returns true when the step changed. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._complete_step(run_id uuid, step_slug text, output jsonb)
returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_step pgflow.step_states;
  v_flow_slug text;
begin
  update pgflow.step_states ss
  set status = 'completed',
      output = _complete_step.output,
      remaining_tasks = 0,
      initial_tasks = coalesce(ss.initial_tasks, 0),
      started_at = coalesce(ss.started_at, clock_timestamp()),
      completed_at = clock_timestamp()
  where ss.run_id = _complete_step.run_id
    and ss.step_slug = _complete_step.step_slug
    and ss.status in ('created', 'started', 'waiting')
  returning * into v_step;

  if not found then
    return false;
  end if;
  v_flow_slug := v_step.flow_slug;
  if to_regnamespace('realtime') is not null then
    perform pgflow._emit(
      'step:' || v_step.step_slug || ':completed', pgflow._step_event(v_step), v_step.run_id
    );
  end if;

  update pgflow.step_states c
  set remaining_deps = c.remaining_deps - 1,
      initial_tasks = case
        when s.step_type = 'map' and jsonb_typeof(_complete_step.output) = 'array'
          then jsonb_array_length(_complete_step.output)
        when s.step_type = 'map' then 0
        else c.initial_tasks
      end
  from pgflow.deps d
  join pgflow.steps s on s.flow_slug = d.flow_slug and s.step_slug = d.step_slug
  where d.flow_slug = v_flow_slug
    and d.dep_slug = _complete_step.step_slug
    and c.run_id = _complete_step.run_id
    and c.step_slug = d.step_slug
    and c.status = 'created';

  update pgflow.runs r
  set remaining_steps = r.remaining_steps - 1
  where r.run_id = _complete_step.run_id;

  return true;
end;
$$;
