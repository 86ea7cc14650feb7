-- start_tasks(flow_slug, msg_ids, worker_id): the pgflow 0.8.1 second claim phase: start the
-- queued tasks behind messages a worker read from the flow's queue. Messages of tasks that are
-- not queued are ignored. Returns step_task_record rows (input as in _start_tasks).
-- Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.start_tasks(flow_slug text, msg_ids bigint[], worker_id uuid)
returns setof pgflow.step_task_record
language sql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan to off
set jit to off
as $$
  select c.flow_slug, c.run_id, c.step_slug, c.input, c.msg_id, c.task_index
  from pgflow._start_tasks(start_tasks.flow_slug, start_tasks.msg_ids, start_tasks.worker_id) c;
$$;
