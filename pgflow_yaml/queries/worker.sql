-- Queries the worker runs. Each starts with "-- name:" and a one-line "-- " description.

-- name: claim_tasks
-- Read and start up to qty visible tasks of the given flows for one worker, in one round trip.
select flow_slug, run_id, step_slug, task_index, msg_id, attempt, timeout, input
from pgflow.claim_tasks(%(flow_slugs)s::text[], %(worker_id)s::uuid, %(qty)s::int, %(vt)s::int);

-- name: complete_tasks
-- Report a batch of task outputs ({run_id, step_slug, task_index, attempt, output}) in one transaction.
select pgflow.complete_tasks(%(results)s::jsonb);

-- name: fail_tasks
-- Report a batch of task failures (with error type, traceback and retryable) in one transaction.
select pgflow.fail_tasks(%(failures)s::jsonb);

-- name: release_tasks
-- Hand back the started tasks of a stopping worker, without consuming an attempt.
select pgflow.release_tasks(%(worker_id)s::uuid) as released;

-- name: requeue_stalled_tasks
-- Requeue tasks whose worker died (started for longer than their step's timeout).
select pgflow.requeue_stalled_tasks() as requeued;

-- name: register_worker
-- Record a worker in pgflow.workers (queue_name holds the comma-separated flow slugs it serves).
insert into pgflow.workers (worker_id, queue_name, function_name, last_heartbeat_at)
values (%(worker_id)s::uuid, %(queue_name)s, %(function_name)s, now());

-- name: heartbeat
-- Refresh a worker's last_heartbeat_at.
update pgflow.workers set last_heartbeat_at = now() where worker_id = %(worker_id)s::uuid;

-- name: mark_worker_stopped
-- Record that a worker stopped.
update pgflow.workers set stopped_at = now(), last_heartbeat_at = now()
where worker_id = %(worker_id)s::uuid;

-- name: compare_flow_shape
-- List the differences between a flow's compiled shape and the database (null: flow missing).
select pgflow.compare_flow_shape(%(flow_slug)s, %(shape)s::jsonb) as differences;

-- name: listen_tasks
-- Subscribe this connection to the wake-ups sent when tasks become visible.
listen pgflow_tasks;

-- name: core_installed
-- Tell whether the pgflow schema and its claim function exist.
select to_regprocedure('pgflow.claim_tasks(text[],uuid,integer,integer)') is not null as installed;
