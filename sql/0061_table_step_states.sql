-- Table step_states: the state of each step within a run.
-- status: created -> started -> completed | failed | skipped; created -> completed (taskless),
-- skipped or failed (conditions); a signal step goes created -> waiting -> completed (signal),
-- failed or skipped (its timeout, skip_reason 'signal_timeout'); created | started | waiting
-- -> cancelled (its run failed or was cancelled; cancelled_at says when). output holds the
-- step's output, written once on completion (a map step's outputs aggregated in task order).
-- Raises (on write): status_is_valid, status_and_remaining_tasks_match,
-- remaining_tasks_state_consistency, initial_tasks_known_when_started,
-- output_only_for_completed_or_null, skip_reason_matches_status, completed_at_or_failed_at_or_skipped_at,
-- cancelled_at_matches_status.
set search_path = pg_catalog, pg_temp;

create table if not exists pgflow.step_states (
  flow_slug text not null,
  run_id uuid not null references pgflow.runs (run_id),
  step_slug text not null,
  status text not null default 'created',
  remaining_tasks int,
  initial_tasks int,
  remaining_deps int not null default 0,
  output jsonb,
  error_message text,
  skip_reason text,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  completed_at timestamptz,
  failed_at timestamptz,
  skipped_at timestamptz,
  cancelled_at timestamptz,
  constraint step_states_pkey primary key (run_id, step_slug),
  constraint step_states_flow_slug_step_slug_fkey foreign key (flow_slug, step_slug)
    references pgflow.steps (flow_slug, step_slug),
  constraint status_is_valid check (
    status in ('created', 'started', 'waiting', 'completed', 'failed', 'skipped', 'cancelled')
  ),
  constraint remaining_deps_is_nonnegative check (remaining_deps >= 0),
  constraint initial_tasks_is_nonnegative check (initial_tasks is null or initial_tasks >= 0),
  constraint status_and_remaining_tasks_match check (
    status <> 'completed' or remaining_tasks = 0
  ),
  constraint remaining_tasks_state_consistency check (
    remaining_tasks is null or status not in ('created', 'skipped')
  ),
  constraint initial_tasks_known_when_started check (
    status <> 'started' or initial_tasks is not null
  ),
  constraint output_only_for_completed_or_null check (output is null or status = 'completed'),
  constraint skip_reason_matches_status check (
    (status = 'skipped' and skip_reason is not null) or (status <> 'skipped' and skip_reason is null)
  ),
  constraint skip_reason_is_valid check (
    skip_reason is null
    or skip_reason in ('condition_unmet', 'handler_failed', 'dependency_skipped', 'signal_timeout')
  ),
  constraint completed_at_or_failed_at_or_skipped_at check (
    num_nonnulls(completed_at, failed_at, skipped_at) <= 1
  ),
  constraint started_at_is_after_created_at check (started_at is null or started_at >= created_at),
  constraint completed_at_is_after_started_at check (
    completed_at is null or started_at is null or completed_at >= started_at
  ),
  constraint failed_at_is_after_started_at check (
    failed_at is null or started_at is null or failed_at >= started_at
  ),
  constraint skipped_at_is_after_created_at check (skipped_at is null or skipped_at >= created_at),
  constraint cancelled_at_matches_status check ((status = 'cancelled') = (cancelled_at is not null))
);

create index if not exists idx_step_states_ready on pgflow.step_states (run_id, status, remaining_deps)
  where status = 'created' and remaining_deps = 0;
create index if not exists idx_step_states_failed on pgflow.step_states (run_id, step_slug)
  where status = 'failed';
create index if not exists idx_step_states_skipped on pgflow.step_states (run_id, step_slug)
  where status = 'skipped';
create index if not exists idx_step_states_flow_slug on pgflow.step_states (flow_slug);
create index if not exists idx_step_states_waiting on pgflow.step_states (started_at)
  where status = 'waiting';
