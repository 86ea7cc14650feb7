-- _fc_value(run_id, step_slug, task_index, path): the value of a dotted path (a concurrency or
-- rate key, such as 'run.customer_id') in a task's handler input, as text: a string as is,
-- anything else as JSON text; a path that leads nowhere gives 'null'. The input is not built:
-- for a single step the first segment names "run" (the run input) or a dependency (its output);
-- for a map task the path reads the task's element. Internal (pgflow._fc_tag). Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._fc_value(
  run_id uuid,
  step_slug text,
  task_index int,
  path text
)
returns text
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_parts text[] := pg_catalog.string_to_array(_fc_value.path, '.');
  v_step pgflow.steps;
  v_value jsonb;
begin
  select s.* into v_step
  from pgflow.runs r join pgflow.steps s on s.flow_slug = r.flow_slug
  where r.run_id = _fc_value.run_id and s.step_slug = _fc_value.step_slug;

  if v_step.step_type = 'map' then
    if v_step.deps_count = 0 then
      select r.input -> _fc_value.task_index into v_value
      from pgflow.runs r where r.run_id = _fc_value.run_id;
    else
      select ss.output -> _fc_value.task_index into v_value
      from pgflow.deps d
      join pgflow.step_states ss on ss.run_id = _fc_value.run_id and ss.step_slug = d.dep_slug
      where d.flow_slug = v_step.flow_slug and d.step_slug = _fc_value.step_slug;
    end if;
    v_value := v_value #> v_parts;
  elsif v_parts[1] = 'run' then
    select r.input #> v_parts[2:] into v_value from pgflow.runs r where r.run_id = _fc_value.run_id;
  else
    select ss.output #> v_parts[2:] into v_value
    from pgflow.step_states ss
    where ss.run_id = _fc_value.run_id and ss.step_slug = v_parts[1];
  end if;

  return coalesce(v_value #>> '{}', 'null');
end;
$$;
