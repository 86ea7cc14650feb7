-- register_worker(worker_id, queue_name, function_name): record a starting worker in
-- pgflow.workers as the calling login's (registered_by = session_user). Registering the same
-- worker_id again from the same login refreshes the row (started_at, last_heartbeat_at, queue
-- and function names; stopped_at cleared). Runs as its owner.
-- Raises: 'Worker "%" is registered by another login' when worker_id belongs to another login;
-- not-null violations for a null argument.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.register_worker(
  worker_id uuid,
  queue_name text,
  function_name text
)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
begin
  insert into pgflow.workers as w (worker_id, queue_name, function_name, registered_by)
  values (
    register_worker.worker_id,
    register_worker.queue_name,
    register_worker.function_name,
    session_user
  )
  on conflict on constraint workers_pkey do update
    set queue_name = excluded.queue_name,
        function_name = excluded.function_name,
        started_at = clock_timestamp(),
        last_heartbeat_at = clock_timestamp(),
        stopped_at = null
    where w.registered_by = excluded.registered_by;
  if not found then
    raise exception 'Worker "%" is registered by another login', register_worker.worker_id;
  end if;
end;
$$;
