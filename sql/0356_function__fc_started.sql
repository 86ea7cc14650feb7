-- _fc_started(flow_slug, claimed): record the starts just made of tasks of rate-limited steps in
-- pgflow.rate_starts (at each task's started_at, under the groups' locks _fc_admit took), and
-- delete the rows of those steps that have left their window. Internal (_start_tasks, for a
-- flow under flow control). Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._fc_started(flow_slug text, claimed pgflow.claimed_task[])
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode to force_generic_plan
as $$
begin
  -- most flows under flow control have no rate limit: nothing to record
  if not exists (
    select 1 from pgflow.steps s
    where s.flow_slug = _fc_started.flow_slug and s.opt_rate_limit is not null
  ) then
    return;
  end if;

  insert into pgflow.rate_starts (flow_slug, step_slug, rate_key, started_at)
  select t.flow_slug, t.step_slug, t.rate_key, t.started_at
  from unnest(_fc_started.claimed) c
  join pgflow.step_tasks t
    on t.run_id = c.run_id and t.step_slug = c.step_slug and t.task_index = c.task_index
  join pgflow.steps s on s.flow_slug = t.flow_slug and s.step_slug = t.step_slug
  where s.opt_rate_limit is not null and t.rate_key is not null;

  if found then
    delete from pgflow.rate_starts rs
    using pgflow.steps s
    where rs.flow_slug = _fc_started.flow_slug
      and s.flow_slug = rs.flow_slug and s.step_slug = rs.step_slug
      and s.step_slug in (select c.step_slug from unnest(_fc_started.claimed) c)
      and rs.started_at < pg_catalog.clock_timestamp()
        - pg_catalog.make_interval(secs => coalesce(s.opt_rate_per, 0));
  end if;
end;
$$;
