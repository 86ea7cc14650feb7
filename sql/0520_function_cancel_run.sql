-- cancel_run(run_id): cancel a started or queued run (a queued one never started anything): status 'cancelled', every created or started step
-- and every queued or started task cancelled (messages archived; _cancel_open_steps), so
-- nothing more starts and late results are ignored. Its child runs not ended (started or queued) are cancelled too
-- (recursively), and a cancelled child fails its parent task (_subflow_run_ended).
-- A run that already ended is returned unchanged. Sends run:cancelled (_emit; our addition, in
-- the form of 0.8.1's run events). Returns the run row.
-- Raises: 'Run "%" does not exist'.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.cancel_run(run_id uuid)
returns pgflow.runs
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan to off
set jit to off
as $$
#variable_conflict use_column
declare
  v_run pgflow.runs;
begin
  select * into v_run from pgflow.runs r where r.run_id = cancel_run.run_id for no key update;
  if not found then
    raise exception 'Run "%" does not exist', cancel_run.run_id;
  end if;
  if v_run.status not in ('started', 'queued') then
    return v_run;
  end if;

  update pgflow.runs r
  set status = 'cancelled', cancelled_at = clock_timestamp()
  where r.run_id = cancel_run.run_id
  returning * into v_run;
  perform pgflow._cancel_open_steps(cancel_run.run_id);
  perform pgflow._subflow_run_ended(cancel_run.run_id);
  perform pgflow._release_run_slot(v_run);  -- flow concurrency: a freed slot starts a queued run
  if to_regnamespace('realtime') is not null then
    perform pgflow._emit('run:cancelled', pgflow._run_event(v_run), v_run.run_id);
  end if;
  return v_run;
end;
$$;
