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
select to_regproc('pgflow.start_flows') is not null as present;

-- name: has_trace_context
-- Tell whether the core records trace contexts on runs (pgflow-yaml 0.3.0 on; pgflow 0.8.1 does not).
select to_regproc('pgflow.set_run_trace_context') is not null as present;

-- name: get_run
-- Return a run with its step states as one JSON document ({run, steps}).
select pgflow.get_run_with_states(%(run_id)s::uuid) as run;

-- name: run_status
-- Return the status and output of one run.
select status, output from pgflow.runs where run_id = %(run_id)s::uuid;

-- name: run_tasks
-- Return the tasks of one run (status, attempts, timings, errors), in step then task order.
-- (The columns pgflow 0.8.1 lacks are read through to_jsonb, so a 0.8.1 core answers too.)
select t.step_slug, t.task_index, t.status, t.attempts_count, t.error_message,
       t.queued_at, t.started_at, t.completed_at, t.failed_at,
       to_jsonb(t) ->> 'error_type' as error_type,
       to_jsonb(t) ->> 'error_traceback' as error_traceback,
       (to_jsonb(t) ->> 'cancelled_at')::timestamptz as cancelled_at
from pgflow.step_tasks as t
join pgflow.steps as s on s.flow_slug = t.flow_slug and s.step_slug = t.step_slug
where t.run_id = %(run_id)s::uuid
order by s.step_index, t.task_index;

-- name: list_runs
-- List recent runs, newest first, optionally of one flow and one status (cancelled_at read
-- through to_jsonb, after the limit, so that a pgflow 0.8.1 core answers too).
select r.run_id, r.flow_slug, r.status, r.remaining_steps, r.started_at, r.completed_at,
       r.failed_at, (to_jsonb(r) ->> 'cancelled_at')::timestamptz as cancelled_at,
       (to_jsonb(r) ->> 'parent_run_id')::uuid as parent_run_id,
       to_jsonb(r) ->> 'parent_step_slug' as parent_step_slug,
       (to_jsonb(r) ->> 'parent_task_index')::int as parent_task_index
from (
  select * from pgflow.runs
  where (%(flow_slug)s::text is null or flow_slug = %(flow_slug)s::text)
    and (%(status)s::text is null or status = %(status)s::text)
  order by started_at desc, run_id
  limit %(limit)s::int
) as r
order by r.started_at desc, r.run_id;

-- name: list_children
-- List the child runs of a run (started by its sub-flow steps) by parent step, task index and
-- start, optionally of one flow and one status; a null limit lists them all.
select r.run_id, r.flow_slug, r.status, r.remaining_steps, r.started_at, r.completed_at,
       r.failed_at, r.cancelled_at, r.parent_run_id, r.parent_step_slug, r.parent_task_index
from pgflow.runs as r
where r.parent_run_id = %(parent_run_id)s::uuid
  and (%(flow_slug)s::text is null or r.flow_slug = %(flow_slug)s::text)
  and (%(status)s::text is null or r.status = %(status)s::text)
order by r.parent_step_slug, r.parent_task_index, r.started_at, r.run_id
limit %(limit)s::int;

-- name: run_error
-- Return why a failed run failed: its first failed step, and that step's first failed task (error
-- type, message, traceback, attempt; none when the step failed without a task) with the step's
-- max_attempts. The columns pgflow 0.8.1 lacks are read through to_jsonb.
select ss.step_slug,
       t.task_index,
       coalesce(ss.error_message, t.error_message) as message,
       to_jsonb(t) ->> 'error_type' as error_type,
       to_jsonb(t) ->> 'error_traceback' as traceback,
       t.attempts_count as attempt,
       case when t.run_id is not null then coalesce(s.opt_max_attempts, f.opt_max_attempts) end
         as max_attempts
from pgflow.step_states as ss
join pgflow.steps as s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
join pgflow.flows as f on f.flow_slug = ss.flow_slug
left join lateral (
  select * from pgflow.step_tasks as ft
  where ft.run_id = ss.run_id and ft.step_slug = ss.step_slug and ft.status = 'failed'
  order by ft.failed_at, ft.task_index
  limit 1
) as t on true
where ss.run_id = %(run_id)s::uuid and ss.status = 'failed'
order by ss.failed_at, s.step_index
limit 1;

-- name: run_live_workers
-- Return a run's flow and how many live workers serve it (pgflow.live_workers).
select r.flow_slug, pgflow.live_workers(r.flow_slug) as live
from pgflow.runs as r
where r.run_id = %(run_id)s::uuid;

-- name: live_workers
-- Count the live workers serving a flow: registered, heartbeating, not stopped.
select pgflow.live_workers(%(flow_slug)s) as live;

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

-- name: signal_target
-- Return the JSON Schema of a run's signal step (null: no such signal step); no row: no such run.
select s.signal_schema
from pgflow.runs r
left join pgflow.steps s on s.flow_slug = r.flow_slug and s.step_slug = %(step_slug)s::text
where r.run_id = %(run_id)s::uuid;

-- name: deliver_signal
-- Deliver a signal: 'completed' (the step completed) or 'pending' (kept: not ready, or a map
-- step waiting for other elements).
select pgflow.signal(
  %(run_id)s::uuid, %(step_slug)s::text, %(payload)s::jsonb, %(task_index)s::int
) as outcome;

-- name: start_flow_keyed
-- start_flow with an idempotency key and a priority (either may be null; pgflow-yaml core 0.3.0
-- on): when a run of the flow already has the key, start nothing and return that run's id. Rows as start_flow's (the md5 check too).
select case when m.schema_md5 is not distinct from %(schema_md5)s::text then
         (select r.run_id
          from pgflow.start_flow(
            s.flow_slug, %(input)s::jsonb, %(run_id)s::uuid, %(idempotency_key)s::text,
            %(priority)s::int
          ) as r)
       end as run_id,
       s.input_schema, m.schema_md5
from (
  select f.flow_slug, nullif(to_jsonb(f) -> 'opt_input_schema', 'null') as input_schema
  from pgflow.flows as f
  where f.flow_slug = %(flow_slug)s
) as s
cross join lateral (select md5(s.input_schema::text) as schema_md5) as m;

-- name: start_many_keyed
-- start_many with an idempotency key (or null) per input (or null keys) and a priority (or null);
-- a known key gives its existing run's id.
select case when m.schema_md5 is not distinct from %(schema_md5)s::text then
         (select array_agg(r.run_id order by r.ordinality)
          from pgflow.start_flows(
            s.flow_slug, %(inputs)s::jsonb, null, %(idempotency_keys)s::text[], %(priority)s::int
          ) with ordinality as r)
       end as run_ids,
       s.input_schema, m.schema_md5
from (
  select f.flow_slug, nullif(to_jsonb(f) -> 'opt_input_schema', 'null') as input_schema
  from pgflow.flows as f
  where f.flow_slug = %(flow_slug)s
) as s
cross join lateral (select md5(s.input_schema::text) as schema_md5) as m;

-- name: pause_schedule
-- Pause (paused true) or resume (false) one schedule of a flow.
select flow_slug from pgflow.pause_schedule(%(flow_slug)s, %(schedule_name)s, %(paused)s);

-- name: trigger_schedule
-- Start a run of a schedule now, with its input; return the run's id.
select run_id from pgflow.trigger_schedule(%(flow_slug)s, %(schedule_name)s);

-- name: explain_run
-- Return why each unfinished step or task of a run is not running now (pgflow.explain_run).
select step_slug, task_index, reason, detail, until from pgflow.explain_run(%(run_id)s::uuid);
-- name: prune_cutoff
-- The cutoff of a prune: now (the server's clock) minus older_than, refused when negative.
select clock_timestamp() - %(older_than)s::interval as cutoff,
       %(older_than)s::interval < interval '0' as negative;

-- name: prune_batch
-- One bounded step of pruning (its own transaction in autocommit): runs deleted and the cursor.
select b.runs_deleted, b.last_started_at, b.last_run_id
from pgflow.prune_batch(
  %(cutoff)s::timestamptz, %(batch_size)s::int, %(after_started_at)s::timestamptz,
  %(after_run_id)s::uuid
) as b;
