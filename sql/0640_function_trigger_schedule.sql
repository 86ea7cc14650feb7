-- trigger_schedule(flow_slug, schedule_name): start a run of the schedule now, with its input,
-- whatever its cron, overlap or pause; recorded as a 'triggered' fire (fire_at = the start's
-- clock_timestamp()). Cron fires are unaffected. Returns the fire row.
-- Raises: 'Schedule "%" of flow "%" does not exist'; what start_flow raises.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.trigger_schedule(flow_slug text, schedule_name text)
returns pgflow.schedule_fires
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_schedule pgflow.schedules;
  v_run_id uuid;
  v_fire pgflow.schedule_fires;
begin
  select * into v_schedule from pgflow.schedules s
  where s.flow_slug = trigger_schedule.flow_slug
    and s.schedule_name = trigger_schedule.schedule_name
  for update;
  if not found then
    raise exception 'Schedule "%" of flow "%" does not exist',
      trigger_schedule.schedule_name, trigger_schedule.flow_slug
      using errcode = 'PF002';
  end if;
  select r.run_id into v_run_id from pgflow.start_flow(v_schedule.flow_slug, v_schedule.input) r;
  insert into pgflow.schedule_fires (flow_slug, schedule_name, fire_at, outcome, run_id)
  values (v_schedule.flow_slug, v_schedule.schedule_name, clock_timestamp(), 'triggered', v_run_id)
  returning * into v_fire;
  update pgflow.schedules s set last_run_id = v_run_id
  where s.flow_slug = v_schedule.flow_slug and s.schedule_name = v_schedule.schedule_name;
  return v_fire;
end;
$$;
