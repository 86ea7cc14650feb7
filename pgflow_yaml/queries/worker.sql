-- Queries the worker runs (the shape queries serve the drift check of `pgflow compile --check`
-- too). Each starts with "-- name:" and a one-line "-- " description.

-- name: claim_tasks
-- Read and start up to qty visible tasks of the given flows for one worker, in one round trip
-- (input as JSON text: the worker decodes it per task, so one undecodable input fails one task).
select flow_slug, run_id, step_slug, task_index, msg_id, attempt, start_seq, timeout,
       input::text as input
from pgflow.claim_tasks(%(flow_slugs)s::text[], %(worker_id)s::uuid, %(qty)s::int, %(vt)s::int);

-- name: complete_tasks
-- Report a batch of task outputs ({run_id, step_slug, task_index, attempt, start_seq, output}) in one transaction.
select pgflow.complete_tasks(%(results)s::jsonb);

-- name: complete_and_claim
-- Report task outputs and claim up to qty visible tasks of the given flows, in one transaction and one round trip.
select flow_slug, run_id, step_slug, task_index, msg_id, attempt, start_seq, timeout,
       input::text as input
from pgflow.complete_and_claim(
  %(results)s::jsonb, %(flow_slugs)s::text[], %(worker_id)s::uuid, %(qty)s::int, %(vt)s::int
);

-- name: fail_tasks
-- Report a batch of task failures (with error type, traceback and retryable) in one transaction.
select pgflow.fail_tasks(%(failures)s::jsonb);

-- name: release_tasks
-- Hand back the started tasks of a stopping worker, without consuming an attempt.
select pgflow.release_tasks(%(worker_id)s::uuid) as released;

-- name: requeue_stalled_tasks
-- Requeue tasks whose worker died (started for longer than their step's timeout).
select pgflow.requeue_stalled_tasks() as requeued;

-- name: expire_waiting_steps
-- End the signal steps that waited longer than their timeout (as their when_exhausted says).
select pgflow.expire_waiting_steps() as expired;

-- name: start_due_subflows
-- Start a new child run for each sub-flow task whose retry delay is over; cancel orphaned children.
select pgflow.start_due_subflows() as started;

-- name: register_worker
-- Record a worker as this login's in pgflow.workers (queue_name: the comma-separated flow slugs).
select pgflow.register_worker(%(worker_id)s::uuid, %(queue_name)s, %(function_name)s);

-- name: heartbeat
-- Refresh this login's worker's last_heartbeat_at.
select pgflow.heartbeat_worker(%(worker_id)s::uuid) as deprecated;

-- name: mark_worker_stopped
-- Record that a worker stopped (pgflow 0.8.1 has the same function).
select pgflow.mark_worker_stopped(%(worker_id)s::uuid);

-- name: register_worker_081
-- Record a worker in pgflow.workers on a pgflow 0.8.1 core (no register_worker function there).
insert into pgflow.workers (worker_id, queue_name, function_name)
values (%(worker_id)s::uuid, %(queue_name)s, %(function_name)s);

-- name: heartbeat_081
-- Refresh a worker's last_heartbeat_at on a pgflow 0.8.1 core.
update pgflow.workers set last_heartbeat_at = now() where worker_id = %(worker_id)s::uuid;

-- name: compare_flow_shape
-- List the differences between a flow's compiled shape and the database (null: flow missing).
select pgflow.compare_flow_shape(%(flow_slug)s, %(shape)s::jsonb) as differences;

-- name: stored_options
-- Return a flow's row, then its steps' rows in step order, as JSON (every opt_* column; none: no flow).
select null::text as step_slug, -1 as step_index, to_jsonb(f) as row
from pgflow.flows as f where f.flow_slug = %(flow_slug)s
union all
select s.step_slug, s.step_index, to_jsonb(s) from pgflow.steps as s where s.flow_slug = %(flow_slug)s
order by 2;

-- name: listen_tasks
-- Subscribe this connection to the wake-ups sent when tasks become visible.
listen pgflow_tasks;

-- name: core_installed
-- Tell whether the pgflow schema and its claim function exist, and complete_and_claim (newer cores).
select to_regprocedure('pgflow.claim_tasks(text[],uuid,integer,integer)') is not null as installed,
       to_regprocedure('pgflow.complete_and_claim(jsonb,text[],uuid,integer,integer)') is not null
         as complete_and_claim;

-- name: relax_commit
-- Let this session's commits return before their WAL reaches disk (at-least-once stays intact).
set synchronous_commit to off;

-- name: legacy_core
-- Tell whether the database has pgflow 0.8.1's worker calls (start_tasks, complete_task, fail_task).
select to_regprocedure('pgflow.start_tasks(text,bigint[],uuid)') is not null as present;

-- name: read_messages_081
-- Read up to qty visible messages of one flow's queue on pgflow 0.8.1, hiding them for vt seconds.
select m.msg_id from pgmq.read(%(flow_slug)s, %(vt)s::int, %(qty)s::int) as m;

-- name: start_tasks_081
-- Start the tasks of messages read by read_messages_081 with pgflow 0.8.1's start_tasks.
-- Never fold the read into this statement: the join below sees the step_tasks rows of the
-- statement's snapshot, taken before a read inside it, so a task committed in between (a run
-- started, a step made ready) would be started by start_tasks yet missing from the result: a task
-- left `started` that nobody runs, and 0.8.1 never requeues it. Here every read message's task
-- was committed before this statement began.
select t.flow_slug, t.run_id, t.step_slug, t.task_index, t.msg_id,
       s.attempts_count + 1 as attempt, null::bigint as start_seq, null::int as timeout,
       t.input::text as input
from pgflow.start_tasks(%(flow_slug)s, %(msg_ids)s::bigint[], %(worker_id)s::uuid) as t
join pgflow.step_tasks as s
  on s.run_id = t.run_id and s.step_slug = t.step_slug and s.task_index = t.task_index;

-- name: complete_task_081
-- Report one task's output with pgflow 0.8.1's complete_task.
select count(*) as reported
from pgflow.complete_task(%(run_id)s::uuid, %(step_slug)s, %(task_index)s::int, %(output)s::jsonb);

-- name: fail_task_081
-- Report one task's failure with pgflow 0.8.1's fail_task.
select count(*) as reported
from pgflow.fail_task(%(run_id)s::uuid, %(step_slug)s, %(task_index)s::int, %(error_message)s);

-- name: list_schedules
-- Return the schedules of the given flows (null: all) with their last fire and the database's clock.
select flow_slug, schedule_name, cron, timezone, input, overlap, catch_up, enabled, paused_at,
       settled_until, last_fire_at, last_outcome, last_run_id, last_run_status, now_at
from pgflow.list_schedules(%(flow_slugs)s::text[]);

-- name: fire_schedules
-- Start the runs of due schedule fire times ({flow_slug, schedule_name, through, fire_at}), each once.
select flow_slug, schedule_name, fire_at, outcome, run_id, error_message
from pgflow.fire_schedules(%(now)s::timestamptz, %(due)s::jsonb);
