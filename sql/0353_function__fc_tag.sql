-- _fc_tag(flow_slug, run_ids): tag the queued tasks of a flow under flow control (of the given
-- runs; null: all of them) with what the claim orders and limits them by: fc_key, the task's
-- concurrency group (its concurrency key's value, else its rate key's, else ''), rate_key (its
-- rate key's value, '' without one) and priority (the run's override, else the step's, else the
-- flow's, else 0). Internal (_start_ready_steps, _fc_refresh, _fc_set_run_priority).
-- Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._fc_tag(flow_slug text, run_ids uuid[])
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode to force_generic_plan
as $$
begin
  -- the new tasks of some runs (by the primary key, whatever the flow's backlog), or every
  -- waiting task of the flow (an option changed); two statements, so each keeps its own plan
  if _fc_tag.run_ids is not null then
    -- a single step's key under "run." reads the run input in place; other keys go through
    -- pgflow._fc_value
    update pgflow.step_tasks t
    set rate_key = case when s.opt_rate_key is null then ''
          when s.step_type = 'single' and s.opt_rate_key like 'run.%'
            then coalesce(r.input #>> (pg_catalog.string_to_array(s.opt_rate_key, '.'))[2:], 'null')
          else pgflow._fc_value(t.run_id, t.step_slug, t.task_index, s.opt_rate_key) end,
        fc_key = case
          when s.opt_concurrency_key is null and s.opt_rate_key is null then ''
          when s.step_type = 'single'
            and coalesce(s.opt_concurrency_key, s.opt_rate_key) like 'run.%'
            then coalesce(
              r.input #>> (pg_catalog.string_to_array(
                coalesce(s.opt_concurrency_key, s.opt_rate_key), '.'))[2:],
              'null')
          else pgflow._fc_value(t.run_id, t.step_slug, t.task_index,
            coalesce(s.opt_concurrency_key, s.opt_rate_key)) end,
        priority = coalesce(r.priority, s.opt_priority, f.opt_priority, 0)
    from pgflow.steps s, pgflow.runs r, pgflow.flows f
    where t.run_id = any(_fc_tag.run_ids)
      and t.flow_slug = _fc_tag.flow_slug
      and t.status in ('queued', 'started')
      and s.flow_slug = t.flow_slug and s.step_slug = t.step_slug
      and r.run_id = t.run_id
      and f.flow_slug = t.flow_slug
      and (t.fc_key is null
           or t.priority is distinct from coalesce(r.priority, s.opt_priority, f.opt_priority, 0));
    return;
  end if;

  -- a single step's key under "run." reads the run input in place; other keys go through
  -- pgflow._fc_value
  update pgflow.step_tasks t
  set rate_key = case when s.opt_rate_key is null then ''
        when s.step_type = 'single' and s.opt_rate_key like 'run.%'
          then coalesce(r.input #>> (pg_catalog.string_to_array(s.opt_rate_key, '.'))[2:], 'null')
        else pgflow._fc_value(t.run_id, t.step_slug, t.task_index, s.opt_rate_key) end,
      fc_key = case
        when s.opt_concurrency_key is null and s.opt_rate_key is null then ''
        when s.step_type = 'single'
          and coalesce(s.opt_concurrency_key, s.opt_rate_key) like 'run.%'
          then coalesce(
            r.input #>> (pg_catalog.string_to_array(
              coalesce(s.opt_concurrency_key, s.opt_rate_key), '.'))[2:],
            'null')
        else pgflow._fc_value(t.run_id, t.step_slug, t.task_index,
          coalesce(s.opt_concurrency_key, s.opt_rate_key)) end,
      priority = coalesce(r.priority, s.opt_priority, f.opt_priority, 0)
  from pgflow.steps s, pgflow.runs r, pgflow.flows f
  where t.flow_slug = _fc_tag.flow_slug
    and t.status in ('queued', 'started')
    and s.flow_slug = t.flow_slug and s.step_slug = t.step_slug
    and r.run_id = t.run_id
    and f.flow_slug = t.flow_slug;
end;
$$;
