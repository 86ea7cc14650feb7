-- _release_run_slot(run): called (one line) where a run leaves 'started' or 'queued'
-- (maybe_complete_run, _fail_run, cancel_run): when its flow has a concurrency limit, start the
-- queued runs of its key that now fit (_admit_queued_runs). Does nothing for a flow without a
-- limit (one primary-key read), or while _admit_queued_runs advances runs (it counts again
-- itself). When the slot lock cannot be taken without risking a deadlock (_lock_run_slot), the
-- freed slot is filled by the next pgflow._admit_all_queued_runs (workers' housekeeping).
-- Internal. Raises what _advance_run raises.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._release_run_slot(run pgflow.runs)
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
  if pg_catalog.current_setting('pgflow.admitting', true) = 'on' then
    return;
  end if;
  select f.opt_concurrency into v_concurrency
  from pgflow.flows f where f.flow_slug = (_release_run_slot.run).flow_slug;
  if v_concurrency is null then
    return;
  end if;
  v_key := coalesce(
    (_release_run_slot.run).slot_key,
    pgflow._run_slot_key(v_concurrency, (_release_run_slot.run).input)
  );
  if pgflow._lock_run_slot((_release_run_slot.run).flow_slug, v_key) then
    perform pgflow._admit_queued_runs((_release_run_slot.run).flow_slug, v_key);
  end if;
end;
$$;
