-- _fc_refresh(flow_slug): switch a flow's flow control on when anything in it asks for the
-- ordered, limited claim (a flow or step priority other than none, a step concurrency or rate
-- limit, or a run in progress started with a priority), else off; then re-tag its queued tasks
-- (pgflow._fc_tag: concurrency group, rate key, priority), or clear their tags when off. Called by
-- create_flow and add_step after an option change and by a start given a priority, so a change
-- of limits applies to the tasks already waiting. Internal. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._fc_refresh(flow_slug text)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_on boolean;
begin
  v_on := exists (
      select 1 from pgflow.flows f
      where f.flow_slug = _fc_refresh.flow_slug and coalesce(f.opt_priority, 0) <> 0
    )
    or exists (
      select 1 from pgflow.steps s
      where s.flow_slug = _fc_refresh.flow_slug
        and (s.opt_priority is not null or s.opt_concurrency_limit is not null
             or s.opt_rate_limit is not null)
    )
    or exists (
      select 1 from pgflow.runs r
      where r.flow_slug = _fc_refresh.flow_slug and r.priority is not null
        and r.status = 'started'
    );

  update pgflow.flows f set flow_control = v_on
  where f.flow_slug = _fc_refresh.flow_slug and f.flow_control is distinct from v_on;

  if v_on then
    perform pgflow._fc_tag(_fc_refresh.flow_slug, null);
  else
    update pgflow.step_tasks t set fc_key = null, rate_key = null, priority = null
    where t.flow_slug = _fc_refresh.flow_slug and t.status in ('queued', 'started')
      and t.fc_key is not null;
  end if;
end;
$$;
