-- complete_task(run_id, step_slug, task_index, output, attempt): report a task's output (the
-- pgflow 0.8.1 call, plus an optional attempt that fences out a worker whose task was handed to
-- someone else). Late, duplicate and fenced calls are harmless no-ops.
-- Returns the task row (nothing for an unknown task). Raises nothing.
set search_path = pg_catalog, pg_temp;

drop function if exists pgflow.complete_task(uuid, text, int, jsonb);

create or replace function pgflow.complete_task(
  run_id uuid,
  step_slug text,
  task_index int,
  output jsonb,
  attempt int default null
)
returns setof pgflow.step_tasks
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan to off
as $$
begin
  return query select * from pgflow._complete_task(
    complete_task.run_id,
    complete_task.step_slug,
    complete_task.task_index,
    complete_task.output,
    complete_task.attempt
  );
end;
$$;
