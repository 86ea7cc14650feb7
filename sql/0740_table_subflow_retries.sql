-- Table subflow_retries: the sub-flow tasks waiting out their retry delay. When a child run
-- fails and its parent task has attempts left, the task goes back to 'queued' (it has no pgmq
-- message: no worker ever claims it) and gets a row here, due after
-- calculate_retry_delay(base_delay, attempts); start_due_subflows (the workers' periodic
-- maintenance) starts a new child run for each row that is due. Rows of runs that ended or were
-- retried meanwhile are dropped by that sweep; a deleted run deletes its rows.
-- Raises (on write): subflow_retries_pkey, subflow_retries_run_id_fkey.
set search_path = pg_catalog, pg_temp;

create table if not exists pgflow.subflow_retries (
  run_id uuid not null references pgflow.runs (run_id) on delete cascade,
  step_slug text not null,
  task_index int not null,
  due_at timestamptz not null,
  constraint subflow_retries_pkey primary key (run_id, step_slug, task_index)
);

create index if not exists idx_subflow_retries_due_at on pgflow.subflow_retries (due_at);
