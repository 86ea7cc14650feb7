-- set_schedules(flow_slug, schedules): make the flow's schedules exactly the JSON array given
-- (the compiled migration's call): each item {name, cron, timezone, input, overlap, catch_up,
-- enabled} is upserted by name, and the flow's schedules not listed are deleted with their fire
-- records. A new schedule, a re-enabled one and one whose cron or timezone changes are settled
-- up to now (no catch-up of times from before); a pause (paused_at) is kept. The cron text is
-- not parsed here (pgflow validate checked it). Returns the number of schedules.
-- Raises: 'Flow "%" does not exist'; 'set_schedules expects a JSON array, got %';
-- 'schedule % lacks "%"'; overlap_is_valid; catch_up_is_valid.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.set_schedules(flow_slug text, schedules jsonb)
returns int
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_item jsonb;
  v_key text;
begin
  if not exists (select 1 from pgflow.flows f where f.flow_slug = set_schedules.flow_slug) then
    raise exception 'Flow "%" does not exist', set_schedules.flow_slug;
  end if;
  if jsonb_typeof(set_schedules.schedules) is distinct from 'array' then
    raise exception 'set_schedules expects a JSON array, got %',
      coalesce(jsonb_typeof(set_schedules.schedules), 'null');
  end if;
  for v_item in select e from jsonb_array_elements(set_schedules.schedules) e loop
    foreach v_key in array array['name', 'cron'] loop
      if jsonb_typeof(v_item -> v_key) is distinct from 'string' then
        raise exception 'schedule % lacks "%"', v_item, v_key;
      end if;
    end loop;
  end loop;

  delete from pgflow.schedules s
  where s.flow_slug = set_schedules.flow_slug
    and s.schedule_name not in (
      select e ->> 'name' from jsonb_array_elements(set_schedules.schedules) e
    );

  insert into pgflow.schedules as s (
    flow_slug, schedule_name, cron, timezone, input, overlap, catch_up, enabled
  )
  select set_schedules.flow_slug, e ->> 'name', e ->> 'cron', coalesce(e ->> 'timezone', 'UTC'),
         coalesce(e -> 'input', '{}'), coalesce(e ->> 'overlap', 'skip'),
         coalesce(e ->> 'catch_up', 'latest'), coalesce((e ->> 'enabled')::boolean, true)
  from jsonb_array_elements(set_schedules.schedules) e
  on conflict (flow_slug, schedule_name) do update
  set cron = excluded.cron,
      timezone = excluded.timezone,
      input = excluded.input,
      overlap = excluded.overlap,
      catch_up = excluded.catch_up,
      enabled = excluded.enabled,
      settled_until = case
        when (not s.enabled and excluded.enabled)
          or s.cron <> excluded.cron or s.timezone <> excluded.timezone
        then greatest(s.settled_until, now())
        else s.settled_until
      end;

  return jsonb_array_length(set_schedules.schedules);
end;
$$;
