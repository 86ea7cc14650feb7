-- Table workers: the worker processes that registered, with heartbeats and stop times.
-- registered_by is the login (session_user) that registered the row. Row-level security lets
-- every role other than the table's owner see, insert and update only rows registered by its
-- own login (the functions register_worker, heartbeat_worker and mark_worker_stopped, which run
-- as the owner, check the same), so a worker cannot touch another worker's row.
-- Raises: its primary key; 'new row violates row-level security policy' for a row registered
-- as another login.
set search_path = pg_catalog, pg_temp;

create table if not exists pgflow.workers (
  worker_id uuid primary key,
  queue_name text not null,
  function_name text not null,
  started_at timestamptz not null default now(),
  deprecated_at timestamptz,
  stopped_at timestamptz,
  last_heartbeat_at timestamptz not null default now(),
  registered_by text not null default session_user
);

create index if not exists idx_workers_queue_name on pgflow.workers (queue_name);
create index if not exists idx_workers_heartbeat on pgflow.workers (last_heartbeat_at);

alter table pgflow.workers enable row level security;

drop policy if exists workers_own_rows on pgflow.workers;

create policy workers_own_rows on pgflow.workers
  using (registered_by = session_user)
  with check (registered_by = session_user);
