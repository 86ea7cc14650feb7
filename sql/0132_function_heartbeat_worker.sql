-- heartbeat_worker(worker_id): refresh last_heartbeat_at of a worker registered by the calling
-- login (session_user); returns whether the worker was deprecated (deprecated_at set, as
-- pgflow 0.8.1's heartbeat returns), null when it is unknown or another login's. Runs as its
-- owner. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.heartbeat_worker(worker_id uuid)
returns boolean
language sql
volatile
set search_path = pg_catalog, pg_temp
as $$
  update pgflow.workers w
  set last_heartbeat_at = clock_timestamp()
  where w.worker_id = heartbeat_worker.worker_id
    and w.registered_by = session_user
  returning w.deprecated_at is not null;
$$;
