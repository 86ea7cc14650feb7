-- fail_tasks(failures): fail_task for a batch in one transaction; failures is a JSON array of
-- {"run_id", "step_slug", "task_index", "error_message", "start_seq", "attempt", "error_type",
-- "error_traceback", "retryable"} (all but the first three optional). "retryable": false fails
-- the task at once, whatever attempts remain, and its step's when_exhausted applies (for a
-- failure no retry can cure: an input the worker cannot decode, an output that is not JSON);
-- it defaults to true. Runs are locked in run_id order first.
-- Returns the task rows. Raises: 'fail_tasks expects a JSON array, got %';
-- 'fail_tasks item % lacks "%"'.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.fail_tasks(failures jsonb)
returns setof pgflow.step_tasks
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan to off
set jit to off
as $$
#variable_conflict use_column
declare
  v_item jsonb;
begin
  perform pgflow._check_task_batch(fail_tasks.failures, 'fail_tasks');

  perform pgflow._lock_runs(array(
    select (e ->> 'run_id')::uuid from jsonb_array_elements(fail_tasks.failures) e
  ));

  for v_item in select e from jsonb_array_elements(fail_tasks.failures) e loop
    return query select * from pgflow._fail_task(
      (v_item ->> 'run_id')::uuid,
      v_item ->> 'step_slug',
      (v_item ->> 'task_index')::int,
      v_item ->> 'error_message',
      (v_item ->> 'attempt')::int,
      v_item ->> 'error_type',
      coalesce((v_item ->> 'retryable')::boolean, true),
      v_item ->> 'error_traceback',
      (v_item ->> 'start_seq')::bigint
    );
  end loop;
end;
$$;
