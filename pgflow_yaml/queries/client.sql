-- Queries the client and the run-control CLI run.

-- name: start_flow
-- Start one run, unless the flow's input_schema is no longer the one the input was checked against.
-- schema_md5 is the md5 of the text of that schema (null: none). No row: no such flow. A null
-- run_id: nothing started, and input_schema, schema_md5 are the flow's now (null when it has
-- none, as on pgflow 0.8.1, whose flows table has no opt_input_schema). The start is a subplan
-- of the case, run only when the md5 matches.
select case when m.schema_md5 is not distinct from %(schema_md5)s::text then
         (select r.run_id from pgflow.start_flow(s.flow_slug, %(input)s::jsonb, %(run_id)s::uuid) as r)
       end as run_id,
       s.input_schema, m.schema_md5
from (
  select f.flow_slug, nullif(to_jsonb(f) -> 'opt_input_schema', 'null') as input_schema
  from pgflow.flows as f
  where f.flow_slug = %(flow_slug)s
) as s
cross join lateral (select md5(s.input_schema::text) as schema_md5) as m;

-- name: start_many
-- Start one run per input, set-based (start_flows), unless the input_schema changed (as start_flow).
-- run_ids holds the ids in input order, or is null when nothing started.
select case when m.schema_md5 is not distinct from %(schema_md5)s::text then
         (select array_agg(r.run_id order by r.ordinality)
          from pgflow.start_flows(s.flow_slug, %(inputs)s::jsonb) with ordinality as r)
       end as run_ids,
       s.input_schema, m.schema_md5
from (
  select f.flow_slug, nullif(to_jsonb(f) -> 'opt_input_schema', 'null') as input_schema
  from pgflow.flows as f
  where f.flow_slug = %(flow_slug)s
) as s
cross join lateral (select md5(s.input_schema::text) as schema_md5) as m;

-- name: start_many_081
-- start_many on a core without start_flows (pgflow 0.8.1): one start_flow per input, one round trip.
select case when m.schema_md5 is not distinct from %(schema_md5)s::text then
         (select array_agg(r.run_id order by e.ord)
          from jsonb_array_elements(%(inputs)s::jsonb) with ordinality as e (input, ord)
          cross join lateral pgflow.start_flow(s.flow_slug, e.input) as r)
       end as run_ids,
       s.input_schema, m.schema_md5
from (
  select f.flow_slug, nullif(to_jsonb(f) -> 'opt_input_schema', 'null') as input_schema
  from pgflow.flows as f
  where f.flow_slug = %(flow_slug)s
) as s
cross join lateral (select md5(s.input_schema::text) as schema_md5) as m;

-- name: flow_input_schema
-- Return the input_schema stored with a flow and its md5 (null: none, or no such column). No row: no flow.
select s.input_schema, md5(s.input_schema::text) as schema_md5
from (
  select nullif(to_jsonb(f) -> 'opt_input_schema', 'null') as input_schema
  from pgflow.flows as f
  where f.flow_slug = %(flow_slug)s
) as s;

-- name: has_start_flows
-- Tell whether the core has the set-based start_flows (pgflow-yaml 0.2.0 and later).
select to_regprocedure('pgflow.start_flows(text,jsonb,uuid[])') is not null as present;

-- name: get_run
-- Return a run with its step states as one JSON document ({run, steps}).
select pgflow.get_run_with_states(%(run_id)s::uuid) as run;

-- name: run_status
-- Return the status and output of one run.
select status, output from pgflow.runs where run_id = %(run_id)s::uuid;

-- name: run_tasks
-- Return the tasks of one run (status, attempts, timings, errors), in step then task order.
select t.step_slug, t.task_index, t.status, t.attempts_count, t.error_message,
       t.queued_at, t.started_at, t.completed_at, t.failed_at
from pgflow.step_tasks as t
join pgflow.steps as s on s.flow_slug = t.flow_slug and s.step_slug = t.step_slug
where t.run_id = %(run_id)s::uuid
order by s.step_index, t.task_index;

-- name: list_runs
-- List recent runs, newest first, optionally of one flow and one status.
select run_id, flow_slug, status, remaining_steps, started_at, completed_at, failed_at
from pgflow.runs
where (%(flow_slug)s::text is null or flow_slug = %(flow_slug)s::text)
  and (%(status)s::text is null or status = %(status)s::text)
order by started_at desc, run_id
limit %(limit)s::int;

-- name: cancel_run
-- Cancel a run: nothing more starts and in-flight results are ignored.
select pgflow.cancel_run(%(run_id)s::uuid);

-- name: retry_run
-- Start the failed or cancelled steps of a run (and their descendants) again.
select pgflow.retry_run(%(run_id)s::uuid);

-- name: flow_exists
-- Tell whether a flow with this slug exists.
select exists (select 1 from pgflow.flows where flow_slug = %(flow_slug)s) as found;

-- name: run_statuses
-- Return the status of each of many runs (the ones that exist).
select run_id, status from pgflow.runs where run_id = any(%(run_ids)s::uuid[]);
