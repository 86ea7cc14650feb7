-- _admit_all_queued_runs(): the safety net of flow concurrency, called (one line) by
-- requeue_stalled_tasks, which the workers' housekeeping runs every few seconds: start the
-- queued runs of every flow and key that has a free slot (or no limit any more). Normally
-- there are none: a slot is filled in the transaction that frees it; this catches the rare
-- release that could not take its slot lock without risking a deadlock (_lock_run_slot).
-- Keys are visited in lock order. Returns the number of runs started. Internal.
-- Raises what _advance_run raises.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._admit_all_queued_runs()
returns int
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan to off
set jit to off
as $$
#variable_conflict use_column
declare
  v_group record;
  v_started int := 0;
begin
  for v_group in
    select g.flow_slug, g.slot_key
    from (
      select distinct r.flow_slug, r.slot_key from pgflow.runs r
      where r.status = 'queued' and r.slot_key is not null
    ) g
    join pgflow.flows f on f.flow_slug = g.flow_slug
    where f.opt_concurrency is null
       or (f.opt_concurrency ->> 'limit')::int > (
         select count(*) from pgflow.runs s
         where s.flow_slug = g.flow_slug and s.slot_key = g.slot_key and s.status = 'started'
       )
    order by pg_catalog.hashtext(g.flow_slug || '/' || g.slot_key)
  loop
    if pgflow._lock_run_slot(v_group.flow_slug, v_group.slot_key) then
      v_started := v_started + coalesce(cardinality(
        pgflow._admit_queued_runs(v_group.flow_slug, v_group.slot_key)
      ), 0);
    end if;
  end loop;
  return v_started;
end;
$$;
