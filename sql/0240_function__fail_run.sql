-- _fail_run(run_id, step_slug, error_message): fail a step and its run at once: the step gets
-- the error message, the run status 'failed', and every queued or started task of the run is
-- cancelled with its message archived. Internal; the caller holds the run lock.
-- Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._fail_run(run_id uuid, step_slug text, error_message text)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
begin
  update pgflow.step_states ss
  set status = 'failed',
      error_message = _fail_run.error_message,
      failed_at = clock_timestamp()
  where ss.run_id = _fail_run.run_id
    and ss.step_slug = _fail_run.step_slug
    and ss.status in ('created', 'started');

  update pgflow.runs r
  set status = 'failed', failed_at = clock_timestamp()
  where r.run_id = _fail_run.run_id and r.status = 'started';

  perform pgflow._end_open_tasks(_fail_run.run_id, null, 'cancelled');
end;
$$;
