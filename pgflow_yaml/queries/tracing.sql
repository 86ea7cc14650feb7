-- Queries of the OpenTelemetry support (pgflow_yaml.tracing).

-- name: start_flow_traced
-- Start one run and record the caller's trace context on it, in one statement; return its id.
select s.run_id, pgflow.set_run_trace_context(s.run_id, %(trace_context)s::jsonb) as traced
from pgflow.start_flow(%(flow_slug)s, %(input)s::jsonb, %(run_id)s::uuid) as s;

-- name: run_trace_contexts
-- Return the trace contexts recorded on the given runs (those that have one).
select run_id, trace_context from pgflow.run_trace_contexts(%(run_ids)s::uuid[]);
