-- _fail_run(run_id, step_slug, error_message): fail a step and its run at once: the step gets
-- the error message, the run status 'failed', and every other created or started step and every
-- queued or started task of the run is cancelled, messages archived (_cancel_open_steps).
-- Sends step:failed then run:failed (with the error message), as 0.8.1's fail_task; for a
-- [TYPE_VIOLATION] run:failed (without it) then step:failed, as 0.8.1's complete_task.
-- Its child runs not ended (started or queued) are cancelled and, a child itself, it fails its parent task
-- (_subflow_run_ended). Internal; the caller holds the run lock.
-- Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._fail_run(run_id uuid, step_slug text, error_message text)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_step pgflow.step_states;
  v_run pgflow.runs;
  v_type_violation boolean := _fail_run.error_message like '[TYPE\_VIOLATION]%';
begin
  update pgflow.step_states ss
  set status = 'failed',
      error_message = _fail_run.error_message,
      failed_at = clock_timestamp()
  where ss.run_id = _fail_run.run_id
    and ss.step_slug = _fail_run.step_slug
    and ss.status in ('created', 'started', 'waiting')
  returning * into v_step;

  update pgflow.runs r
  set status = 'failed', failed_at = clock_timestamp()
  where r.run_id = _fail_run.run_id and r.status = 'started'
  returning * into v_run;

  if to_regnamespace('realtime') is not null then
    if v_type_violation and v_run.run_id is not null then
      perform pgflow._emit('run:failed', pgflow._run_event(v_run), v_run.run_id);
    end if;
    if v_step.run_id is not null then
      perform pgflow._emit(
        'step:' || v_step.step_slug || ':failed', pgflow._step_event(v_step), v_step.run_id
      );
    end if;
    if not v_type_violation and v_run.run_id is not null then
      perform pgflow._emit(
        'run:failed', pgflow._run_event(v_run, _fail_run.error_message), v_run.run_id
      );
    end if;
  end if;

  perform pgflow._cancel_open_steps(_fail_run.run_id);
  perform pgflow._subflow_run_ended(_fail_run.run_id);
  if v_run.run_id is not null then perform pgflow._release_run_slot(v_run); end if;
end;
$$;
