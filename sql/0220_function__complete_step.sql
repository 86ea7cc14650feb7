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
begin
  -- one statement (the step, its children, the run): the children and the run change only when
  -- the step did (they join "done"), and they are other rows than the step's
  with done as (
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
    returning ss.*
  ),
  children as (
    update pgflow.step_states c
    set remaining_deps = c.remaining_deps - 1,
        initial_tasks = case
          when s.step_type = 'map' and jsonb_typeof(_complete_step.output) = 'array'
            then jsonb_array_length(_complete_step.output)
          when s.step_type = 'map' then 0
          else c.initial_tasks
        end
    from done
    join pgflow.deps d on d.flow_slug = done.flow_slug and d.dep_slug = done.step_slug
    join pgflow.steps s on s.flow_slug = d.flow_slug and s.step_slug = d.step_slug
    where c.run_id = done.run_id
      and c.step_slug = d.step_slug
      and c.status = 'created'
  ),
  run as (
    update pgflow.runs r
    set remaining_steps = r.remaining_steps - 1
    from done
    where r.run_id = done.run_id
  )
  select done.* into v_step from done;

  if not found then
    return false;
  end if;
  if to_regnamespace('realtime') is not null then
    perform pgflow._emit(
      'step:' || v_step.step_slug || ':completed', pgflow._step_event(v_step), v_step.run_id
    );
  end if;
  return true;
end;
$$;
