-- pause_schedule(flow_slug, schedule_name, paused): pause (true) or resume (false) a schedule.
-- A paused schedule fires nothing; resuming settles it up to now, so the fire times of the
-- pause are not caught up. Pausing a paused schedule keeps its paused_at. Returns the row.
-- Raises: 'Schedule "%" of flow "%" does not exist'.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.pause_schedule(
  flow_slug text,
  schedule_name text,
  paused boolean default true
)
returns pgflow.schedules
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_row pgflow.schedules;
begin
  update pgflow.schedules s
  set paused_at = case when pause_schedule.paused then coalesce(s.paused_at, now()) end,
      settled_until = case
        when not pause_schedule.paused and s.paused_at is not null
        then greatest(s.settled_until, now())
        else s.settled_until
      end
  where s.flow_slug = pause_schedule.flow_slug and s.schedule_name = pause_schedule.schedule_name
  returning * into v_row;
  if not found then
    raise exception 'Schedule "%" of flow "%" does not exist',
      pause_schedule.schedule_name, pause_schedule.flow_slug
      using errcode = 'PF002';
  end if;
  return v_row;
end;
$$;
