-- _fc_set_run_priority(flow_slug, run_ids, priority): give runs a start's priority override
-- (runs.priority; null does nothing): it outranks the flow's and the steps' priorities for
-- every task of those runs. Puts the flow under flow control if it was not (tagging its queued
-- tasks), else re-tags the runs' tasks. Internal (start_flow, start_flows). Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._fc_set_run_priority(
  flow_slug text,
  run_ids uuid[],
  priority int
)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if _fc_set_run_priority.priority is null then
    return;
  end if;
  update pgflow.runs r set priority = _fc_set_run_priority.priority
  where r.run_id = any(_fc_set_run_priority.run_ids);
  if (select f.flow_control from pgflow.flows f where f.flow_slug = _fc_set_run_priority.flow_slug)
  then
    perform pgflow._fc_tag(_fc_set_run_priority.flow_slug, _fc_set_run_priority.run_ids);
  else
    perform pgflow._fc_refresh(_fc_set_run_priority.flow_slug);
  end if;
end;
$$;
