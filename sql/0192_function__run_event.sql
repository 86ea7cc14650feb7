-- _run_event(run, error_message): the Realtime payload pgflow 0.8.1 sends for a run that just
-- changed, by its status: run:started (input, remaining_steps, started_at), run:completed
-- (output, completed_at), run:failed (error_message when given, failed_at), and our
-- run:cancelled (cancelled_at), and run:queued (started_at: when it was started) for a run held
-- by its flow's concurrency limit. The event name is 'run:<status>'. Internal (see _emit).
-- Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._run_event(r pgflow.runs, error_message text default null)
returns jsonb
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select jsonb_build_object(
    'event_type', 'run:' || r.status,
    'run_id', r.run_id,
    'flow_slug', r.flow_slug
  ) || case r.status
    when 'started' then jsonb_build_object(
      'input', r.input,
      'status', r.status,
      'remaining_steps', r.remaining_steps,
      'started_at', r.started_at
    )
    when 'completed' then jsonb_build_object(
      'status', r.status,
      'output', r.output,
      'completed_at', r.completed_at
    )
    when 'failed' then jsonb_build_object('status', r.status, 'failed_at', r.failed_at)
      || case
        when _run_event.error_message is not null
          then jsonb_build_object('error_message', _run_event.error_message)
        else '{}'::jsonb
      end
    when 'queued' then jsonb_build_object('status', r.status, 'started_at', r.started_at)
    else jsonb_build_object('status', r.status, 'cancelled_at', r.cancelled_at)
  end;
$$;
