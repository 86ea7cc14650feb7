-- _fc_tags(run_id, step_slug, task_index): the flow-control tags of a new task of a flow under
-- flow control, as text[] {fc_key, rate_key, priority}: its concurrency group (its concurrency
-- key's value, else its rate key's, else ''), its rate key's value ('' without one) and its
-- priority (the run's override, else the step's, else the flow's, else 0); the same values
-- pgflow._fc_tag writes. Called per row by the insert of _start_ready_steps, so new tasks are
-- written once, tagged. Internal. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._fc_tags(run_id uuid, step_slug text, task_index int)
returns text[]
language plpgsql
stable
set search_path = pg_catalog, pg_temp
set plan_cache_mode to force_generic_plan
as $$
declare
  v record;
  v_group text;
  v_rate text;
begin
  select s.step_type, s.opt_concurrency_key, s.opt_rate_key,
         coalesce(r.priority, s.opt_priority, f.opt_priority, 0) as priority, r.input
  into v
  from pgflow.runs r
  join pgflow.steps s on s.flow_slug = r.flow_slug and s.step_slug = _fc_tags.step_slug
  join pgflow.flows f on f.flow_slug = r.flow_slug
  where r.run_id = _fc_tags.run_id;

  if v.opt_rate_key is null then
    v_rate := '';
  elsif v.step_type = 'single' and v.opt_rate_key like 'run.%' then
    v_rate := coalesce(v.input #>> (pg_catalog.string_to_array(v.opt_rate_key, '.'))[2:], 'null');
  else
    v_rate := pgflow._fc_value(_fc_tags.run_id, _fc_tags.step_slug, _fc_tags.task_index,
      v.opt_rate_key);
  end if;

  if v.opt_concurrency_key is null then
    v_group := v_rate;
  elsif v.step_type = 'single' and v.opt_concurrency_key like 'run.%' then
    v_group := coalesce(
      v.input #>> (pg_catalog.string_to_array(v.opt_concurrency_key, '.'))[2:], 'null');
  else
    v_group := pgflow._fc_value(_fc_tags.run_id, _fc_tags.step_slug, _fc_tags.task_index,
      v.opt_concurrency_key);
  end if;

  return array[v_group, v_rate, v.priority::text];
end;
$$;
