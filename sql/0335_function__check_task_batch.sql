-- _check_task_batch(items, caller): check the batch argument of complete_tasks / fail_tasks
-- before anything changes: a JSON array of objects, each with non-null "run_id", "step_slug"
-- and "task_index". Internal.
-- Raises: '<caller> expects a JSON array, got %'; '<caller> item % lacks "%"'.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._check_task_batch(items jsonb, caller text)
returns void
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_item jsonb;
  v_position int := 0;
  v_key text;
begin
  if jsonb_typeof(_check_task_batch.items) is distinct from 'array' then
    raise exception '% expects a JSON array, got %',
      _check_task_batch.caller, coalesce(jsonb_typeof(_check_task_batch.items), 'null');
  end if;
  for v_item in select e from jsonb_array_elements(_check_task_batch.items) e loop
    foreach v_key in array array['run_id', 'step_slug', 'task_index'] loop
      if jsonb_typeof(v_item) is distinct from 'object' or v_item -> v_key is null
        or v_item -> v_key = 'null'::jsonb then
        raise exception '% item % lacks "%"', _check_task_batch.caller, v_position, v_key;
      end if;
    end loop;
    v_position := v_position + 1;
  end loop;
end;
$$;
