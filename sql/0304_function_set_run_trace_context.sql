-- set_run_trace_context(run_id, trace_context): record on a run the W3C trace context
-- ({"traceparent": ..., "tracestate": ...}) of the code that started it, so that workers open
-- each task attempt's span as a child of it (pgflow-yaml[otel]). The first context recorded
-- sticks: a run keeps the trace it was started in. Returns true when it was recorded, null when
-- the run does not exist or already has one.
-- Raises: 'trace_context must be a JSON object of at most 4096 bytes'.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.set_run_trace_context(run_id uuid, trace_context jsonb)
returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if pg_catalog.jsonb_typeof(set_run_trace_context.trace_context) is distinct from 'object'
    or pg_catalog.octet_length(set_run_trace_context.trace_context::text) > 4096
  then
    raise exception 'trace_context must be a JSON object of at most 4096 bytes';
  end if;
  update pgflow.runs as r
  set trace_context = set_run_trace_context.trace_context
  where r.run_id = set_run_trace_context.run_id
    and r.trace_context is null;
  return case when found then true end;
end;
$$;
