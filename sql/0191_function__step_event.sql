-- _step_event(step_state): the Realtime payload pgflow 0.8.1 sends for a step state that just
-- changed, by its status: step:started (started_at, remaining_tasks, remaining_deps),
-- step:completed (output, completed_at; a taskless step, initial_tasks 0, also started_at and
-- remaining_tasks/remaining_deps 0 with output [] as 0.8.1's cascade sends), step:failed
-- (error_message, failed_at), and step:skipped in the form of later pgflow versions (flow_slug,
-- skip_reason, skipped_at, and error_message when the step has one). The event name is
-- 'step:<step_slug>:<status>'. Internal (see _emit). Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._step_event(ss pgflow.step_states)
returns jsonb
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select jsonb_build_object(
    'event_type', 'step:' || ss.status,
    'run_id', ss.run_id,
    'step_slug', ss.step_slug,
    'status', ss.status
  ) || case ss.status
    when 'started' then jsonb_build_object(
      'started_at', ss.started_at,
      'remaining_tasks', ss.remaining_tasks,
      'remaining_deps', ss.remaining_deps
    )
    when 'completed' then case
      when ss.initial_tasks = 0 then jsonb_build_object(
        'started_at', ss.started_at,
        'completed_at', ss.completed_at,
        'remaining_tasks', 0,
        'remaining_deps', 0,
        'output', coalesce(ss.output, '[]'::jsonb)
      )
      else jsonb_build_object('output', ss.output, 'completed_at', ss.completed_at)
    end
    when 'failed' then jsonb_build_object(
      'error_message', ss.error_message,
      'failed_at', ss.failed_at
    )
    when 'skipped' then jsonb_build_object(
      'flow_slug', ss.flow_slug,
      'skip_reason', ss.skip_reason,
      'skipped_at', ss.skipped_at
    ) || case
      when ss.error_message is not null then jsonb_build_object('error_message', ss.error_message)
      else '{}'::jsonb
    end
    else '{}'::jsonb
  end;
$$;
