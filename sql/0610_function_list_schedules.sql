-- list_schedules(flow_slugs): the schedules of the given flows (null: of every flow), by flow
-- and name, each with its last fire (time, outcome, run and the run's status) and the
-- database's clock (now_at), which the worker computes due fire times against (so the clocks of
-- the workers' hosts do not matter). Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.list_schedules(flow_slugs text[] default null)
returns table (
  flow_slug text,
  schedule_name text,
  cron text,
  timezone text,
  input jsonb,
  overlap text,
  catch_up text,
  enabled boolean,
  paused_at timestamptz,
  settled_until timestamptz,
  last_fire_at timestamptz,
  last_outcome text,
  last_run_id uuid,
  last_run_status text,
  now_at timestamptz
)
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select s.flow_slug, s.schedule_name, s.cron, s.timezone, s.input, s.overlap, s.catch_up,
         s.enabled, s.paused_at, s.settled_until, f.fire_at, f.outcome, f.run_id, r.status,
         clock_timestamp()
  from pgflow.schedules s
  left join lateral (
    select sf.fire_at, sf.outcome, sf.run_id
    from pgflow.schedule_fires sf
    where sf.flow_slug = s.flow_slug and sf.schedule_name = s.schedule_name
    order by sf.fire_at desc
    limit 1
  ) f on true
  left join pgflow.runs r on r.run_id = f.run_id
  where $1 is null or s.flow_slug = any ($1)
  order by s.flow_slug, s.schedule_name;
$$;
