-- _run_slot_key(concurrency, input): the concurrency key value of a run with this input under
-- the flow's opt_concurrency: null when the flow has no limit, '' when the limit has no key,
-- else the text of the value at the key's dotted path in the input (a string as is, any other
-- JSON value as its JSON text; a missing path or a JSON null gives '', so such runs share one
-- group with the runs whose value is the empty string). Internal. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._run_slot_key(concurrency jsonb, input jsonb)
returns text
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select case
    when _run_slot_key.concurrency is null then null
    when _run_slot_key.concurrency ->> 'key' is null then ''
    else coalesce(
      _run_slot_key.input #>> pg_catalog.string_to_array(_run_slot_key.concurrency ->> 'key', '.'),
      ''
    )
  end;
$$;
