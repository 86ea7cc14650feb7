-- Table workers: the worker processes that registered, with heartbeats and stop times.
-- Raises nothing beyond its primary key.
set search_path = pg_catalog, pg_temp;

create table if not exists pgflow.workers (
  worker_id uuid primary key,
  queue_name text not null,
  function_name text not null,
  started_at timestamptz not null default now(),
  deprecated_at timestamptz,
  stopped_at timestamptz,
  last_heartbeat_at timestamptz not null default now()
);

create index if not exists idx_workers_queue_name on pgflow.workers (queue_name);
create index if not exists idx_workers_heartbeat on pgflow.workers (last_heartbeat_at);
