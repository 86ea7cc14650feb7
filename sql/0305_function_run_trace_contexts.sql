-- run_trace_contexts(run_ids): the trace contexts recorded on these runs (set_run_trace_context),
-- for the worker to open task spans as their children; runs without one are left out.
-- Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.run_trace_contexts(run_ids uuid[])
returns table (run_id uuid, trace_context jsonb)
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select r.run_id, r.trace_context
  from pgflow.runs as r
  where r.run_id = any (run_trace_contexts.run_ids)
    and r.trace_context is not null;
$$;
