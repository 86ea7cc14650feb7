-- _cancel_open_steps(run_id): end what is still open in a run that failed or was cancelled:
-- every created, started or waiting step becomes 'cancelled' (cancelled_at set), and every queued or
-- started task 'cancelled' with its message archived (_end_open_tasks), so a finished run shows
-- only finished steps and nothing of it can be claimed again. Sends no event (pgflow 0.8.1 has
-- no step:cancelled; run:failed / run:cancelled say it). Internal; the caller holds the run lock.
-- Returns the number of steps cancelled. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._cancel_open_steps(run_id uuid)
returns int
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_count int;
begin
  update pgflow.step_states ss
  set status = 'cancelled', cancelled_at = clock_timestamp()
  where ss.run_id = _cancel_open_steps.run_id and ss.status in ('created', 'started', 'waiting');
  get diagnostics v_count = row_count;
  perform pgflow._end_open_tasks(_cancel_open_steps.run_id, null, 'cancelled');
  return v_count;
end;
$$;
