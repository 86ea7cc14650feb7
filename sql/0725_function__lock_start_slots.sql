-- _lock_start_slots(flow_slug, inputs): before _start_runs inserts runs of a flow with a
-- concurrency limit, take the slot locks of the inputs' keys, in lock order (_lock_run_slot), so
-- that a start never waits for a slot lock while holding a new run row (whose idempotency key a
-- concurrent start of the same key may wait for). Does nothing for a flow without a limit.
-- Internal. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._lock_start_slots(flow_slug text, inputs jsonb[])
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_concurrency jsonb;
  v_key text;
begin
  select f.opt_concurrency into v_concurrency
  from pgflow.flows f where f.flow_slug = _lock_start_slots.flow_slug;
  if v_concurrency is null then
    return;
  end if;
  for v_key in
    select k.slot_key from (
      select distinct pgflow._run_slot_key(v_concurrency, u.input) as slot_key
      from unnest(_lock_start_slots.inputs) as u(input)
    ) k
    order by pg_catalog.hashtext(_lock_start_slots.flow_slug || '/' || k.slot_key)
  loop
    perform pgflow._lock_run_slot(_lock_start_slots.flow_slug, v_key);
  end loop;
end;
$$;
