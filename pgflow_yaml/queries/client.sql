-- Queries the client and the run-control CLI run.

-- name: start_flow
-- Start one run of a flow; return its id.
select run_id from pgflow.start_flow(%(flow_slug)s, %(input)s::jsonb, %(run_id)s::uuid);

-- name: start_many
-- Start one run per element of a JSON array of inputs, set-based in one call; return the ids in order.
select run_id from pgflow.start_flows(%(flow_slug)s, %(inputs)s::jsonb);

-- name: start_many_081
-- start_many on a core without start_flows (pgflow 0.8.1): one start_flow per input, one round trip.
select r.run_id
from jsonb_array_elements(%(inputs)s::jsonb) with ordinality as e(input, ord)
cross join lateral pgflow.start_flow(%(flow_slug)s, e.input) as r
order by e.ord;

-- name: has_start_flows
-- Tell whether the core has the set-based start_flows (pgflow-yaml 0.2.0 and later).
select to_regproc('pgflow.start_flows') is not null as present;

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

-- name: start_flow_keyed
-- Start one run of a flow unless a run of it already has this idempotency key; return the run's id.
select run_id
from pgflow.start_flow(%(flow_slug)s, %(input)s::jsonb, %(run_id)s::uuid, %(idempotency_key)s::text);

-- name: start_many_keyed
-- start_many with an idempotency key (or null) per input; a known key gives its existing run's id.
select run_id
from pgflow.start_flows(%(flow_slug)s, %(inputs)s::jsonb, null, %(idempotency_keys)s::text[]);

-- name: pause_schedule
-- Pause (paused true) or resume (false) one schedule of a flow.
select flow_slug from pgflow.pause_schedule(%(flow_slug)s, %(schedule_name)s, %(paused)s);

-- name: trigger_schedule
-- Start a run of a schedule now, with its input; return the run's id.
select run_id from pgflow.trigger_schedule(%(flow_slug)s, %(schedule_name)s);
