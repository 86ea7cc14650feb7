-- _fc_ranked(flow_slug): whether the queued tasks of a flow under flow control may differ in
-- priority: a step's priority differs from the flow's (or another step's), or a run started
-- with a priority is in progress (idx_runs_priority holds only those runs). When not, the claim
-- serves the flow's steps with no limit of their own apart from its limited groups
-- (pgflow._claim_free) and walks only the limited groups round-robin (pgflow._fc_pick); when
-- so, _fc_pick orders all of them by priority. Internal (_fc_pick, _claim_free's statement).
-- Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._fc_ranked(flow_slug text)
returns boolean
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
  -- plpgsql, not sql: its plans are kept for the session (a sql function with a SET clause is
  -- planned again on every call)
  return (
      select count(distinct coalesce(s.opt_priority, f.opt_priority, 0)) > 1
      from pgflow.steps s join pgflow.flows f on f.flow_slug = s.flow_slug
      where s.flow_slug = _fc_ranked.flow_slug
    )
    or exists (
      select 1 from pgflow.runs r
      where r.flow_slug = _fc_ranked.flow_slug and r.priority is not null
        and r.status in ('queued', 'started')
    );
end;
$$;
