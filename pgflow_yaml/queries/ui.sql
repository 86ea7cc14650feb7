-- Queries the dashboard (`pgflow ui`) runs: read-only, except for the actions, which go through
-- the client's queries (start_flow, cancel_run, retry_run, deliver_signal, trigger_schedule).
-- Each is allowed to the role pgflow_client, which the dashboard runs as when the roles are
-- installed (tests/ui/test_client_role.py runs them all as it).

-- name: ui_runs
-- One page of runs, newest first, by keyset on (started_at, run_id); optional flow, status, run id range.
select run_id, flow_slug, status, started_at, completed_at, failed_at, cancelled_at
from pgflow.runs
where (%(flow_slug)s::text is null or flow_slug = %(flow_slug)s::text)
  and (%(status)s::text is null or status = %(status)s::text)
  and (%(id_low)s::uuid is null or run_id between %(id_low)s::uuid and %(id_high)s::uuid)
  and (%(before_at)s::timestamptz is null
       or (started_at, run_id) < (%(before_at)s::timestamptz, %(before_id)s::uuid))
order by started_at desc, run_id desc
limit %(limit)s::int;

-- name: ui_run
-- One run with its input, output, end times and, for a child run, its parent task.
select run_id, flow_slug, status, input, output, remaining_steps,
       started_at, completed_at, failed_at, cancelled_at,
       parent_run_id, parent_step_slug, parent_task_index
from pgflow.runs
where run_id = %(run_id)s::uuid;

-- name: ui_run_steps
-- The step states of one run in step order, with their outputs and errors.
select ss.step_slug, ss.status, ss.initial_tasks, ss.remaining_tasks, ss.output,
       ss.error_message, ss.skip_reason, ss.created_at, ss.started_at, ss.completed_at,
       ss.failed_at, ss.skipped_at
from pgflow.step_states as ss
join pgflow.steps as s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
where ss.run_id = %(run_id)s::uuid
order by s.step_index;

-- name: ui_run_tasks
-- The tasks of one run (attempts, worker, timings, output, error and traceback), in step then task order;
-- a sub-flow task's latest child run and how many it had.
select t.step_slug, t.task_index, t.status, t.attempts_count, t.last_worker_id, t.output,
       t.error_type, t.error_message, t.error_traceback, t.queued_at, t.started_at,
       t.completed_at, t.failed_at, t.skipped_at, t.cancelled_at,
       c.child_run_id, c.child_runs
from pgflow.step_tasks as t
join pgflow.steps as s on s.flow_slug = t.flow_slug and s.step_slug = t.step_slug
left join lateral (
  select (array_agg(r.run_id order by r.started_at desc, r.run_id desc))[1] as child_run_id,
         count(*) as child_runs
  from pgflow.runs as r
  where s.child_flow_slug is not null
    and r.parent_run_id = t.run_id and r.parent_step_slug = t.step_slug
    and r.parent_task_index = t.task_index
) as c on true
where t.run_id = %(run_id)s::uuid
order by s.step_index, t.task_index;

-- name: ui_flow_steps
-- The steps of every flow (or one) with their type, options, signal schema (signal steps) and dependencies, in step order.
select s.flow_slug, s.step_slug, s.step_type, s.step_index, s.opt_max_attempts,
       s.opt_base_delay, s.opt_timeout, s.opt_start_delay, s.signal_schema,
       coalesce(
         (select array_agg(d.dep_slug order by d.dep_slug)
          from pgflow.deps as d
          where d.flow_slug = s.flow_slug and d.step_slug = s.step_slug),
         '{}'
       ) as deps
from pgflow.steps as s
where %(flow_slug)s::text is null or s.flow_slug = %(flow_slug)s::text
order by s.flow_slug, s.step_index;

-- name: ui_flows
-- Every flow with its options.
select flow_slug, opt_max_attempts, opt_base_delay, opt_timeout, created_at
from pgflow.flows
order by flow_slug;

-- name: ui_flow_counts
-- Runs started in the last hour and the last day, by flow and status.
select flow_slug, status,
       count(*) filter (where started_at > now() - interval '1 hour') as last_hour,
       count(*) as last_day
from pgflow.runs
where started_at > now() - interval '1 day'
group by flow_slug, status;

-- name: ui_workers
-- Workers newest first, with their tasks in flight; live means not stopped and heard from recently.
select w.worker_id, w.queue_name, w.function_name, w.started_at, w.last_heartbeat_at,
       w.stopped_at, w.deprecated_at,
       w.stopped_at is null
         and w.last_heartbeat_at > now() - make_interval(secs => %(live_seconds)s::float8)
         as live,
       (select count(*)
        from pgflow.step_tasks as t
        where t.status = 'started' and t.last_worker_id = w.worker_id) as in_flight
from pgflow.workers as w
order by w.stopped_at is not null, w.started_at desc
limit %(limit)s::int;

-- name: ui_changed_runs
-- The status and end times of the given runs (for the live updates of the pages).
select run_id, flow_slug, status, started_at, completed_at, failed_at, cancelled_at
from pgflow.runs
where run_id = any(%(run_ids)s::uuid[]);

-- name: ui_changed_steps
-- The step statuses of the given runs (for the live updates of the run pages).
select run_id, step_slug, status, remaining_tasks, initial_tasks
from pgflow.step_states
where run_id = any(%(run_ids)s::uuid[]);

-- name: hold_runs_listener_lock
-- Tell the core's triggers that someone listens on pgflow_runs: they send nothing while no
-- session holds this shared advisory lock (sql/0196_function__notify_run_change.sql). Held by the
-- listening session until it closes.
select pg_catalog.pg_advisory_lock_shared(7342002);

-- name: listen_runs
-- Listen for the run and step changes that pgflow._notify_run_change sends.
listen pgflow_runs;

-- name: ui_ready_tasks
-- Queued tasks (retry delays included) and the age of the oldest, by flow and step (for /metrics).
select flow_slug, step_slug, count(*) as tasks,
       extract(epoch from now() - min(queued_at))::float8 as oldest_seconds
from pgflow.step_tasks
where status = 'queued'
group by flow_slug, step_slug;

-- name: ui_live_workers
-- Live workers by queue_name (for /metrics): not stopped, heard from within live_seconds.
select queue_name, count(*) as live
from pgflow.workers
where stopped_at is null
  and last_heartbeat_at > now() - make_interval(secs => %(live_seconds)s::float8)
group by queue_name;

-- name: ui_client_role
-- Whether this database has the roles (the role exists and may use schema pgflow), the login, and whether it may become the role.
select session_user as login,
       coalesce(has_schema_privilege(r.oid, n.oid, 'usage'), false) as installed,
       coalesce(pg_has_role(session_user, r.oid, 'member'), false) as member
from (select 1) as one
left join pg_catalog.pg_roles as r on r.rolname = %(role)s::text
left join pg_catalog.pg_namespace as n on n.nspname = 'pgflow';
