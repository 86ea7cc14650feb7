-- drop_flow(flow_slug, force): delete a flow's definition and everything of it: its runs, step
-- states, tasks, schedules and their fire records, dependencies, steps, the flow row and its pgmq queue (with the queue go the
-- worker's grants on it). For development and for replacing a flow whose shape changed; the
-- rows of workers that served it stay (they are history). Owner only: no role is granted it.
-- Returns the number of runs deleted.
-- Raises: 'Flow "%" does not exist' (SQLSTATE P0002); 'Flow "%" has % run(s) in progress ...'
-- (SQLSTATE 55006, object_in_use) while a run is started or queued, unless force: then those runs
-- are cancelled first (their children in other flows too, and a parent task waiting on one of
-- them fails its attempt), and deleted.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.drop_flow(flow_slug text, force boolean default false)
returns integer
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_in_progress integer;
  v_runs integer;
  v_run_id uuid;
begin
  perform 1 from pgflow.flows f where f.flow_slug = drop_flow.flow_slug for update;
  if not found then
    raise exception 'Flow "%" does not exist', drop_flow.flow_slug using errcode = 'P0002';
  end if;

  -- lock the runs, so that no run starts or ends while its rows go
  select pg_catalog.count(*) filter (where r.status in ('started', 'queued'))::integer,
         pg_catalog.count(*)::integer
  into v_in_progress, v_runs
  from (
    select r.status from pgflow.runs r where r.flow_slug = drop_flow.flow_slug for update
  ) as r;
  if v_in_progress > 0 and not drop_flow.force then
    raise exception 'Flow "%" has % run(s) in progress: cancel them, or drop with force => true',
      drop_flow.flow_slug, v_in_progress
      using errcode = 'object_in_use';
  end if;

  -- with force, the runs in progress are cancelled first (cancel_run), so that the runs around
  -- them learn it: a parent's task of a dropped child flow fails its attempt (and a retry fails
  -- at once: the flow does not exist), a dropped parent's children in other flows are cancelled
  for v_run_id in
    select r.run_id from pgflow.runs r
    where r.flow_slug = drop_flow.flow_slug and r.status in ('started', 'queued')
    order by r.run_id
  loop
    perform pgflow.cancel_run(v_run_id);
  end loop;

  delete from pgflow.step_tasks t where t.flow_slug = drop_flow.flow_slug;
  delete from pgflow.step_states s where s.flow_slug = drop_flow.flow_slug;
  delete from pgflow.runs r where r.flow_slug = drop_flow.flow_slug;
  delete from pgflow.schedule_fires sf where sf.flow_slug = drop_flow.flow_slug;
  delete from pgflow.schedules sc where sc.flow_slug = drop_flow.flow_slug;
  delete from pgflow.rate_starts rs where rs.flow_slug = drop_flow.flow_slug;
  delete from pgflow.deps d where d.flow_slug = drop_flow.flow_slug;
  delete from pgflow.steps s where s.flow_slug = drop_flow.flow_slug;
  delete from pgflow.flows f where f.flow_slug = drop_flow.flow_slug;
  if exists (select 1 from pgmq.meta m where m.queue_name = drop_flow.flow_slug) then
    perform pgmq.drop_queue(drop_flow.flow_slug);
  end if;
  return v_runs;
end;
$$;
