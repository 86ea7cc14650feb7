-- Queries of the OpenTelemetry support (pgflow_yaml.tracing).

-- name: start_flow_traced
-- start_flow (queries/client.sql), also recording the caller's trace context on the run it starts.
select case when m.schema_md5 is not distinct from %(schema_md5)s::text then
         (select r.run_id
          from pgflow.start_flow(s.flow_slug, %(input)s::jsonb, %(run_id)s::uuid) as r
          cross join lateral pgflow.set_run_trace_context(r.run_id, %(trace_context)s::jsonb) as t)
       end as run_id,
       s.input_schema, m.schema_md5
from (
  select f.flow_slug, nullif(to_jsonb(f) -> 'opt_input_schema', 'null') as input_schema
  from pgflow.flows as f
  where f.flow_slug = %(flow_slug)s
) as s
cross join lateral (select md5(s.input_schema::text) as schema_md5) as m;

-- name: start_flow_keyed_traced
-- start_flow_keyed (queries/client.sql), also recording the caller's trace context on the run (a
-- run found by its key keeps the context it has: the first one sticks).
select case when m.schema_md5 is not distinct from %(schema_md5)s::text then
         (select r.run_id
          from pgflow.start_flow(
            s.flow_slug, %(input)s::jsonb, %(run_id)s::uuid, %(idempotency_key)s::text,
            %(priority)s::int
          ) as r
          cross join lateral pgflow.set_run_trace_context(r.run_id, %(trace_context)s::jsonb) as t)
       end as run_id,
       s.input_schema, m.schema_md5
from (
  select f.flow_slug, nullif(to_jsonb(f) -> 'opt_input_schema', 'null') as input_schema
  from pgflow.flows as f
  where f.flow_slug = %(flow_slug)s
) as s
cross join lateral (select md5(s.input_schema::text) as schema_md5) as m;

-- name: run_trace_contexts
-- Return the trace contexts recorded on the given runs (those that have one).
select run_id, trace_context from pgflow.run_trace_contexts(%(run_ids)s::uuid[]);
