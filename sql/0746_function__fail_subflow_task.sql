-- _fail_subflow_task(task, error_message, error_type): fail the current attempt of a started
-- sub-flow task (its child run failed, was cancelled, or outlasted the step's timeout) through
-- _fail_task (retryable, fenced by the task's start_seq), so the step's max_attempts and
-- when_exhausted apply. A task that has attempts left goes back to 'queued' with a row in
-- pgflow.subflow_retries, due after calculate_retry_delay(base_delay, attempts):
-- start_due_subflows then starts a new child run for it. Returns the task row as it now is.
-- Internal (_settle_parent_task, _time_out_subflow_tasks); the caller holds the run lock.
-- Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._fail_subflow_task(
  task pgflow.step_tasks,
  error_message text,
  error_type text
)
returns pgflow.step_tasks
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_task pgflow.step_tasks;
  v_base_delay int;
begin
  select * into v_task from pgflow._fail_task(
    _fail_subflow_task.task.run_id, _fail_subflow_task.task.step_slug,
    _fail_subflow_task.task.task_index, _fail_subflow_task.error_message, null,
    _fail_subflow_task.error_type, true, null, _fail_subflow_task.task.start_seq
  );

  if v_task.status = 'queued' then
    select coalesce(s.opt_base_delay, f.opt_base_delay) into v_base_delay
    from pgflow.steps s
    join pgflow.flows f on f.flow_slug = s.flow_slug
    where s.flow_slug = v_task.flow_slug and s.step_slug = v_task.step_slug;
    insert into pgflow.subflow_retries (run_id, step_slug, task_index, due_at)
    values (
      v_task.run_id, v_task.step_slug, v_task.task_index,
      clock_timestamp() + make_interval(secs => pgflow.calculate_retry_delay(
        v_base_delay, v_task.attempts_count - v_task.released_count
      ))
    )
    on conflict (run_id, step_slug, task_index) do update set due_at = excluded.due_at;
  end if;
  return v_task;
end;
$$;
