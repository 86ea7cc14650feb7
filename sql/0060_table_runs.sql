-- Table runs: one row per run of a flow. status: started -> completed | failed | cancelled;
-- failed and cancelled runs go back to started through retry_run. A run of a flow with a
-- concurrency limit that finds no free slot starts (or is retried) as 'queued' and becomes
-- 'started' when a slot frees; slot_key is its concurrency key value ('' when the limit has no
-- key; null while the flow has no limit) and queue_seq its place in the queue (arrival order). idempotency_key (optional) is
-- unique per flow: a second start with the same key returns the first run (kept until pruned).
-- A child run (started by a sub-flow step) records its parent: parent_run_id, parent_step_slug
-- and parent_task_index name the parent's task whose output the child's output becomes.
-- Raises (on write): runs_flow_slug_fkey, status_is_valid, remaining_steps_is_nonnegative,
-- completed_at_or_failed_at (at most one end time), *_is_after_started_at, runs_idempotency_key.
set search_path = pg_catalog, pg_temp;

create table if not exists pgflow.runs (
  run_id uuid primary key default pgflow._time_ordered_uuid(),
  flow_slug text not null references pgflow.flows (flow_slug),
  status text not null default 'started',
  input jsonb not null,
  output jsonb,
  remaining_steps int not null default 0,
  started_at timestamptz not null default now(),
  completed_at timestamptz,
  failed_at timestamptz,
  cancelled_at timestamptz,
  trace_context jsonb,
  idempotency_key text,
  parent_run_id uuid,
  parent_step_slug text,
  parent_task_index int,
  priority int, -- the start's override of the flow's and steps' priorities (null: none)
  slot_key text,
  queue_seq bigint,
  constraint status_is_valid check (
    status in ('queued', 'started', 'completed', 'failed', 'cancelled')
  ),
  constraint remaining_steps_is_nonnegative check (remaining_steps >= 0),
  constraint completed_at_or_failed_at check (
    num_nonnulls(completed_at, failed_at, cancelled_at) <= 1
  ),
  constraint completed_at_is_after_started_at check (
    completed_at is null or completed_at >= started_at
  ),
  constraint failed_at_is_after_started_at check (failed_at is null or failed_at >= started_at),
  constraint cancelled_at_is_after_started_at check (
    cancelled_at is null or cancelled_at >= started_at
  )
);

-- No index on status or on flow_slug alone: every run changes status, so each such index took an
-- insert into one huge run of equal keys per change, which with a large history of finished runs
-- made claim + complete up to 1.6 times slower at 300,000 runs (bench/bench_history.py: 0.61-0.63
-- of an empty history's rate with them, 1.07 without); no query needs them (the
-- status filters walk started_at, and (flow_slug, started_at, run_id) serves flow_slug).
-- The runs list of `pgflow ui` pages by keyset on (started_at, run_id), all runs or one flow's.
create index if not exists idx_runs_started_at_run_id on pgflow.runs (started_at, run_id);
create index if not exists idx_runs_flow_slug_started_at_run_id
  on pgflow.runs (flow_slug, started_at, run_id);

-- The runs in progress that were started with a priority (few, usually none): the flow-control
-- claim (pgflow._fc_pick) asks whether a flow has any before it serves its groups round-robin.
create index if not exists idx_runs_priority on pgflow.runs (flow_slug)
  where priority is not null and status in ('queued', 'started');

create unique index if not exists runs_idempotency_key on pgflow.runs (flow_slug, idempotency_key)
  where idempotency_key is not null;

-- A run's children, by the parent task they ran for (pgflow runs --parent, Client.children,
-- and the parent task's latest child); and the children not ended (started, or queued behind
-- their flow's concurrency limit), for cancellation.
create index if not exists idx_runs_parent on pgflow.runs (
  parent_run_id, parent_step_slug, parent_task_index, started_at
) where parent_run_id is not null;
create index if not exists idx_runs_parent_open on pgflow.runs (parent_run_id)
  where parent_run_id is not null and status in ('queued', 'started');
-- Flow concurrency (issue 12): the runs holding (started) or waiting for (queued) a slot, by
-- flow and key; queued runs start in queue_seq order.
create sequence if not exists pgflow.run_queue_seq as bigint;
create index if not exists idx_runs_slots on pgflow.runs (flow_slug, slot_key, status, queue_seq)
  where status in ('queued', 'started') and slot_key is not null;
