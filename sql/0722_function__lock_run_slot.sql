-- _lock_run_slot(flow_slug, slot_key): take the transaction-level advisory lock that serializes
-- the slot accounting of one flow and concurrency key (pg_advisory_xact_lock(12, hash)): every
-- start, admission and release of a run of a limited flow holds it until its commit, so a
-- decision "queue" or "start" is always taken on committed counts.
-- Deadlock-free by order: a transaction waits only for a lock whose number is above every slot
-- lock it holds already (tracked in the transaction-local setting pgflow.slot_lock_max); for any
-- other it only tries (pg_try_advisory_xact_lock). Returns true when the lock is held, false when
-- another transaction holds it and waiting could deadlock: the caller then leaves its queued
-- runs for pgflow._admit_all_queued_runs (the workers' housekeeping), never starting one without
-- the lock. Internal. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._lock_run_slot(flow_slug text, slot_key text)
returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_id int := pg_catalog.hashtext(
    _lock_run_slot.flow_slug || '/' || coalesce(_lock_run_slot.slot_key, '')
  );
  v_max int := nullif(pg_catalog.current_setting('pgflow.slot_lock_max', true), '')::int;
begin
  if v_max is null or v_id > v_max then
    perform pg_catalog.pg_advisory_xact_lock(12, v_id);
    perform pg_catalog.set_config('pgflow.slot_lock_max', v_id::text, true);
    return true;
  end if;
  return pg_catalog.pg_try_advisory_xact_lock(12, v_id);
end;
$$;
