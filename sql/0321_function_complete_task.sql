-- complete_task(run_id, step_slug, task_index, output, attempt, start_seq): report a task's
-- output (the pgflow 0.8.1 call, plus an optional fence: start_seq, as claim_tasks handed it
-- out, names one start and fences out every other, also one from before a retry_run; attempt
-- alone cannot tell a start before a retry_run from the one after it). Without a fence (the 0.8.1
-- call) any report of a started task is accepted. Late, duplicate and fenced calls are harmless
-- no-ops.
-- Returns the task row (nothing for an unknown task). Raises nothing.
set search_path = pg_catalog, pg_temp;

drop function if exists pgflow.complete_task(uuid, text, int, jsonb);

create or replace function pgflow.complete_task(
  run_id uuid,
  step_slug text,
  task_index int,
  output jsonb,
  attempt int default null,
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
  return query select * from pgflow._complete_task(
    complete_task.run_id,
    complete_task.step_slug,
    complete_task.task_index,
    complete_task.output,
    complete_task.attempt,
    complete_task.start_seq
  );
end;
$$;
