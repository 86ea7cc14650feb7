-- Table step_tasks: one row per task (a single step has task 0, a map step one per element),
-- tied to its pgmq message by message_id.
-- status: queued -> started -> completed | failed | queued (retry, requeue, release);
-- queued/started -> skipped (its step was skipped) | cancelled (its run failed or was cancelled).
-- attempts_count counts starts and never goes down, so the attempt a worker holds (the
-- attempts_count it was given) names its start alone: a report of an older start is fenced out.
-- released_count counts the starts that release_tasks handed back; they do not use up the
-- step's max_attempts (the attempts that count are attempts_count - released_count).
-- start_seq is the number (from pgflow.task_start_seq) of the task's current or last start: it
-- never repeats, even after retry_run re-creates the task, so it fences reports where attempts
-- (which start again at 1 after retry_run) cannot.
-- Raises (on write): valid_status, output_valid_only_for_completed, attempts_count_nonnegative,
-- released_count_nonnegative, released_count_within_attempts, step_tasks_run_id_step_slug_fkey.
set search_path = pg_catalog, pg_temp;

create table if not exists pgflow.step_tasks (
  flow_slug text not null,
  run_id uuid not null,
  step_slug text not null,
  message_id bigint,
  task_index int not null default 0,
  status text not null default 'queued',
  attempts_count int not null default 0,
  error_message text,
  error_type text,
  error_traceback text,
  output jsonb,
  queued_at timestamptz not null default now(),
  started_at timestamptz,
  completed_at timestamptz,
  failed_at timestamptz,
  skipped_at timestamptz,
  cancelled_at timestamptz,
  last_worker_id uuid,
  requeued_count int not null default 0,
  last_requeued_at timestamptz,
  permanently_stalled_at timestamptz,
  released_count int not null default 0,
  start_seq bigint,
  -- flow control (set only on the tasks of a flow with flow_control): the task's concurrency
  -- group (its concurrency key's value, else its rate key's, else ''), its rate key's value
  -- ('' without one) and its priority; null: not under flow control
  fc_key text,
  rate_key text,
  priority int,
  constraint step_tasks_pkey primary key (run_id, step_slug, task_index),
  constraint step_tasks_run_id_step_slug_fkey foreign key (run_id, step_slug)
    references pgflow.step_states (run_id, step_slug),
  constraint valid_status check (
    status in ('queued', 'started', 'completed', 'failed', 'skipped', 'cancelled')
  ),
  constraint output_valid_only_for_completed check (
    output is null or status in ('completed', 'failed')
  ),
  constraint attempts_count_nonnegative check (attempts_count >= 0),
  constraint requeued_count_nonnegative check (requeued_count >= 0),
  constraint released_count_nonnegative check (released_count >= 0),
  constraint released_count_within_attempts check (released_count <= attempts_count),
  constraint task_index_is_nonnegative check (task_index >= 0),
  constraint completed_at_is_after_queued_at check (completed_at is null or completed_at >= queued_at),
  constraint failed_at_is_after_queued_at check (failed_at is null or failed_at >= queued_at)
);

create index if not exists idx_step_tasks_message_id on pgflow.step_tasks (message_id);
-- only the tasks in flight: requeue_stalled_tasks (by started_at) and release_tasks (by worker)
-- scan it; few indexes keep the three writes of every task's life cheap
create index if not exists idx_step_tasks_started on pgflow.step_tasks (started_at)
  where status = 'started';
-- Queued tasks by flow and step, oldest first: the ready-task gauges of `pgflow ui` /metrics.
create index if not exists idx_step_tasks_queued on pgflow.step_tasks (flow_slug, step_slug, queued_at)
  where status = 'queued';
-- Flow control: the queued tasks of each step and concurrency group in claim order (the fair
-- claim walks the groups), and the started ones (a group's slots in use).
create index if not exists idx_step_tasks_fc_queued
  on pgflow.step_tasks (flow_slug, step_slug, fc_key, priority desc, message_id)
  where status = 'queued' and fc_key is not null;
create index if not exists idx_step_tasks_fc_started on pgflow.step_tasks (flow_slug, step_slug, fc_key)
  where status = 'started' and fc_key is not null;
