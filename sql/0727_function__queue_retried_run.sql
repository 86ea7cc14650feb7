-- _queue_retried_run(run): called (one line) by retry_run right after it puts a failed or
-- cancelled run back to 'started': when the flow has a concurrency limit, the run joins the end
-- of its key's queue and is admitted only when a slot is free and no older run of its key
-- waits; otherwise it stays 'queued' (retry_run then advances nothing) and starts when a slot
-- frees. Returns the run row as it now is.
-- Internal; the caller holds the run lock. Raises what _advance_run raises.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._queue_retried_run(run pgflow.runs)
returns pgflow.runs
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_concurrency jsonb;
  v_run pgflow.runs := _queue_retried_run.run;
begin
  select f.opt_concurrency into v_concurrency
  from pgflow.flows f where f.flow_slug = v_run.flow_slug;
  if v_concurrency is null then
    return v_run;
  end if;

  update pgflow.runs r
  set status = 'queued',
      slot_key = pgflow._run_slot_key(v_concurrency, r.input),
      queue_seq = pg_catalog.nextval('pgflow.run_queue_seq')
  where r.run_id = v_run.run_id
  returning * into v_run;

  if pgflow._lock_run_slot(v_run.flow_slug, v_run.slot_key) then
    perform pgflow._admit_queued_runs(v_run.flow_slug, v_run.slot_key, array[v_run.run_id]);
  end if;
  select * into v_run from pgflow.runs r where r.run_id = v_run.run_id;
  return v_run;
end;
$$;
