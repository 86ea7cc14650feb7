-- Table pending_signals: a signal that arrived before its step was waiting (a webhook may come
-- before the run reaches the step). Kept until the step becomes ready, then applied as the
-- step's output and deleted; deleted with its run.
-- Raises (on write): pending_signals_pkey (one pending signal per step task),
-- pending_signals_run_id_fkey.
set search_path = pg_catalog, pg_temp;

create table if not exists pgflow.pending_signals (
  run_id uuid not null references pgflow.runs (run_id) on delete cascade,
  step_slug text not null,
  task_index int not null default 0,
  payload jsonb not null,
  received_at timestamptz not null default now(),
  constraint pending_signals_pkey primary key (run_id, step_slug, task_index)
);
