-- fire_schedules(now, due): start the runs of due schedule fire times, each exactly once
-- however many workers call this at once. due is a JSON array of {flow_slug, schedule_name,
-- through, fire_at: [times]} computed by a worker from the cron expression (the times to
-- start runs for, and the last due time: every fire time up to it is then settled). Per
-- schedule, in (flow_slug, schedule_name) order: the row is locked (skip locked: a schedule
-- another caller is firing is left to it); nothing happens when it is settled through
-- `through` already; a paused or disabled schedule is settled without firing; otherwise each
-- fire time after settled_until and not after `now` gets a schedule_fires row, in the same
-- transaction as its start_flow (outcome 'started'), or 'skipped' (overlap skip while the
-- schedule's last run is still started), or 'failed' (start_flow raised; the message is kept).
-- `now` is the caller's clock (the worker passes the database's; tests pass a simulated one);
-- only a superuser may pass a time in the future (a worker login cannot fire early).
-- Returns the fire rows written.
-- Raises: 'fire_schedules expects a JSON array, got %'; 'fire_schedules: now (%) is in the
-- future'.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.fire_schedules(now timestamptz, due jsonb)
returns setof pgflow.schedule_fires
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_item record;
  v_schedule pgflow.schedules;
  v_at timestamptz;
  v_run_id uuid;
  v_fire pgflow.schedule_fires;
begin
  if jsonb_typeof(fire_schedules.due) is distinct from 'array' then
    raise exception 'fire_schedules expects a JSON array, got %',
      coalesce(jsonb_typeof(fire_schedules.due), 'null');
  end if;
  if fire_schedules.now > clock_timestamp() and not coalesce(
    (select r.rolsuper from pg_catalog.pg_roles r where r.rolname = session_user), false
  ) then
    raise exception 'fire_schedules: now (%) is in the future', fire_schedules.now;
  end if;
  for v_item in
    select e ->> 'flow_slug' as flow_slug, e ->> 'schedule_name' as schedule_name,
           (e ->> 'through')::timestamptz as through,
           array(select t::timestamptz from jsonb_array_elements_text(e -> 'fire_at') t
                 order by 1) as fire_at
    from jsonb_array_elements(fire_schedules.due) e
    order by 1, 2
  loop
    select * into v_schedule from pgflow.schedules s
    where s.flow_slug = v_item.flow_slug and s.schedule_name = v_item.schedule_name
    for update skip locked;
    if not found or v_item.through is null or v_schedule.settled_until >= v_item.through then
      continue;
    end if;
    v_run_id := v_schedule.last_run_id;
    if v_schedule.enabled and v_schedule.paused_at is null then
      foreach v_at in array v_item.fire_at loop
        continue when v_at <= v_schedule.settled_until or v_at > fire_schedules.now
          or v_at > v_item.through;
        if v_schedule.overlap = 'skip' and exists (
          select 1 from pgflow.runs r where r.run_id = v_run_id and r.status in ('started', 'queued')
        ) then
          insert into pgflow.schedule_fires (flow_slug, schedule_name, fire_at, outcome, run_id)
          values (v_schedule.flow_slug, v_schedule.schedule_name, v_at, 'skipped', v_run_id)
          returning * into v_fire;
        else
          begin
            select r.run_id into v_run_id
            from pgflow.start_flow(v_schedule.flow_slug, v_schedule.input) r;
            insert into pgflow.schedule_fires (flow_slug, schedule_name, fire_at, outcome, run_id)
            values (v_schedule.flow_slug, v_schedule.schedule_name, v_at, 'started', v_run_id)
            returning * into v_fire;
          exception when others then
            if sqlstate = '23505' and sqlerrm like '%schedule_fires_pkey%' then
              raise;  -- a fire time fired twice: never swallowed
            end if;
            insert into pgflow.schedule_fires (
              flow_slug, schedule_name, fire_at, outcome, error_message
            )
            values (v_schedule.flow_slug, v_schedule.schedule_name, v_at, 'failed', sqlerrm)
            returning * into v_fire;
            v_run_id := v_schedule.last_run_id;
          end;
        end if;
        return next v_fire;
      end loop;
    end if;
    update pgflow.schedules s
    set settled_until = v_item.through, last_run_id = v_run_id
    where s.flow_slug = v_schedule.flow_slug and s.schedule_name = v_schedule.schedule_name;
  end loop;
end;
$$;
