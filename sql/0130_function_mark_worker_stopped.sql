-- mark_worker_stopped(worker_id): record that a worker stopped (stopped_at = now()).
-- Only a worker registered by the calling login (session_user) is marked: like pgflow.workers'
-- row-level security, a worker cannot stop another login's worker. Runs as its owner.
-- Raises nothing; an unknown worker, or another login's, is ignored.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.mark_worker_stopped(worker_id uuid)
returns void
language sql
volatile
set search_path = pg_catalog, pg_temp
as $$
  update pgflow.workers w
  set stopped_at = clock_timestamp()
  where w.worker_id = mark_worker_stopped.worker_id
    and w.registered_by = session_user;
$$;
