-- complete_tasks(results): complete_task for a batch in one transaction; results is a JSON
-- array of {"run_id", "step_slug", "task_index", "output", "attempt"} ("attempt" optional, a
-- missing "output" is JSON null). Runs are locked in run_id order first.
-- Returns the task rows. Raises: 'complete_tasks expects a JSON array, got %';
-- 'complete_tasks item % lacks "%"'.
set search_path to '';

create or replace function pgflow.complete_tasks(results jsonb)
returns setof pgflow.step_tasks
language plpgsql
volatile
set search_path to ''
set enable_seqscan to off
as $$
#variable_conflict use_column
declare
  v_item jsonb;
  v_position int := 0;
  v_key text;
begin
  if jsonb_typeof(complete_tasks.results) is distinct from 'array' then
    raise exception 'complete_tasks expects a JSON array, got %',
      coalesce(jsonb_typeof(complete_tasks.results), 'null');
  end if;
  for v_item in select e from jsonb_array_elements(complete_tasks.results) e loop
    foreach v_key in array array['run_id', 'step_slug', 'task_index'] loop
      if jsonb_typeof(v_item) is distinct from 'object' or v_item -> v_key is null
        or v_item -> v_key = 'null'::jsonb then
        raise exception 'complete_tasks item % lacks "%"', v_position, v_key;
      end if;
    end loop;
    v_position := v_position + 1;
  end loop;

  perform pgflow._lock_runs(array(
    select (e ->> 'run_id')::uuid from jsonb_array_elements(complete_tasks.results) e
  ));

  for v_item in select e from jsonb_array_elements(complete_tasks.results) e loop
    return query select * from pgflow._complete_task(
      (v_item ->> 'run_id')::uuid,
      v_item ->> 'step_slug',
      (v_item ->> 'task_index')::int,
      coalesce(v_item -> 'output', 'null'::jsonb),
      (v_item ->> 'attempt')::int
    );
  end loop;
end;
$$;
