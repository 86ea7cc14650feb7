-- fail_task(run_id, step_slug, task_index, error_message, attempt, error_type, retryable,
-- error_traceback, start_seq): report a task's failure (the pgflow 0.8.1 call plus optional
-- arguments: start_seq (or, weaker, attempt) fences out a stale worker as in complete_task,
-- retryable => false exhausts the task at once, error_type and error_traceback are stored on
-- the task). Late, duplicate and fenced calls are no-ops.
-- Returns the task row (nothing for an unknown task). Raises nothing.
set search_path = pg_catalog, pg_temp;

drop function if exists pgflow.fail_task(uuid, text, int, text);

create or replace function pgflow.fail_task(
  run_id uuid,
  step_slug text,
  task_index int,
  error_message text,
  attempt int default null,
  error_type text default null,
  retryable boolean default true,
  error_traceback text default null,
  start_seq bigint default null
)
returns setof pgflow.step_tasks
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan to off
set jit to off
as $$
begin
  return query select * from pgflow._fail_task(
    fail_task.run_id,
    fail_task.step_slug,
    fail_task.task_index,
    fail_task.error_message,
    fail_task.attempt,
    fail_task.error_type,
    fail_task.retryable,
    fail_task.error_traceback,
    fail_task.start_seq
  );
end;
$$;
