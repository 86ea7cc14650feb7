-- Upgrade the pgflow-yaml core from 0.2.0 to 0.3.0 (run by `pgflow install`, in one transaction,
-- followed by every function file of sql/ and the privilege files sql/0950_* onwards). Only the
-- DDL lives here: function bodies are re-created from their own files.
--
-- 0.3.0 closes the holes of a security and fault probe:
-- - every function pins search_path = pg_catalog, pg_temp (pg_temp last; '' searched pg_temp
--   first for types and relations, so a caller with TEMP could run code as the owner).
set search_path = pg_catalog, pg_temp;

-- Reports fenced by start (issue 9, item 2): retry_run re-creates a task with attempts from 1
-- again, so a report from before a cancel could pass the attempt fence of the retried task.
-- Every start now takes a number that never repeats (step_tasks.start_seq, handed out in
-- claimed_task.start_seq) and the report calls compare it.
create sequence if not exists pgflow.task_start_seq as bigint;
alter table pgflow.step_tasks add column if not exists start_seq bigint;
alter type pgflow.claimed_task add attribute start_seq bigint;
drop function if exists pgflow._complete_task(uuid, text, int, jsonb, int);
drop function if exists pgflow.complete_task(uuid, text, int, jsonb, int);
drop function if exists pgflow._fail_task(uuid, text, int, text, int, text, boolean, text);
drop function if exists pgflow.fail_task(uuid, text, int, text, int, text, boolean, text);

-- Item 4 of issue 9 (grants broader than documented): a pgflow.workers row belongs to the login
-- that registered it (registered_by), and row-level security keeps every other login off it.
-- The worker's per-queue grants and the removal of 0.2.0's default privileges in schema pgmq
-- live in sql/roles/0960, re-applied by every upgrade of a database with roles.
alter table pgflow.workers add column if not exists registered_by text not null default session_user;

alter table pgflow.workers enable row level security;

drop policy if exists workers_own_rows on pgflow.workers;

create policy workers_own_rows on pgflow.workers
  using (registered_by = session_user)
  with check (registered_by = session_user);

-- Inputs checked wherever a run starts (issue 11): a flow's input_schema is stored with it, so
-- that every client starting it by slug checks the input (PostgreSQL has no JSON Schema
-- validator: the core only stores it). create_flow takes it as a new last argument.
alter table pgflow.flows add column if not exists opt_input_schema jsonb;
alter table pgflow.flows add constraint opt_input_schema_is_a_schema
  check (jsonb_typeof(opt_input_schema) in ('object', 'boolean'));
drop function if exists pgflow.create_flow(text, int, int, int);

-- The dashboard (issue 15): the runs list pages by keyset on (started_at, run_id), all runs or
-- one flow's; pgflow._notify_run_change and its triggers (re-applied with the function files)
-- tell `pgflow ui` which runs changed.
create index if not exists idx_runs_started_at_run_id on pgflow.runs (started_at, run_id);
create index if not exists idx_runs_flow_slug_started_at_run_id
  on pgflow.runs (flow_slug, started_at, run_id);
create index if not exists idx_step_tasks_queued on pgflow.step_tasks (flow_slug, step_slug, queued_at)
  where status = 'queued';

-- Tracing (issue 15): the W3C trace context of the code that started a run
-- (pgflow.set_run_trace_context), read by the worker (pgflow.run_trace_contexts).
alter table pgflow.runs add column if not exists trace_context jsonb;

-- Finished runs show finished steps (issue 11, "See why a run failed"): when a run fails or is
-- cancelled, its steps still created or started end 'cancelled' (a status pgflow 0.8.1 lacks),
-- with the time in step_states.cancelled_at.
alter table pgflow.step_states add column if not exists cancelled_at timestamptz;
alter table pgflow.step_states drop constraint if exists status_is_valid;
alter table pgflow.step_states add constraint status_is_valid check (
  status in ('created', 'started', 'completed', 'failed', 'skipped', 'cancelled')
);
alter table pgflow.step_states drop constraint if exists cancelled_at_matches_status;
alter table pgflow.step_states add constraint cancelled_at_matches_status check (
  (status = 'cancelled') = (cancelled_at is not null)
);

-- Signal steps (issue 14): a step with signal_schema set has no handler and waits, in the new
-- step status 'waiting', for pgflow.signal; a timed-out one may be skipped ('signal_timeout').
-- A signal that arrives before its step waits is kept in pgflow.pending_signals.
alter table pgflow.steps add column if not exists signal_schema jsonb;
alter table pgflow.step_states drop constraint if exists status_is_valid;
alter table pgflow.step_states add constraint status_is_valid check (
  status in ('created', 'started', 'waiting', 'completed', 'failed', 'skipped', 'cancelled')
);
alter table pgflow.step_states drop constraint if exists skip_reason_is_valid;
alter table pgflow.step_states add constraint skip_reason_is_valid check (
  skip_reason is null
  or skip_reason in ('condition_unmet', 'handler_failed', 'dependency_skipped', 'signal_timeout')
);
create table if not exists pgflow.pending_signals (
  run_id uuid not null references pgflow.runs (run_id) on delete cascade,
  step_slug text not null,
  task_index int not null default 0,
  payload jsonb not null,
  received_at timestamptz not null default now(),
  constraint pending_signals_pkey primary key (run_id, step_slug, task_index)
);
create index if not exists idx_step_states_waiting on pgflow.step_states (started_at)
  where status = 'waiting';
drop function if exists pgflow.add_step(
  text, text, text[], int, int, int, int, text, jsonb, jsonb, text, text
);

-- Idempotency keys (issue 13): a run may carry a key unique per flow; a second start with the
-- same key returns the first run. _start_runs returns the ids it settled on, start_flow,
-- start_flow_with_states and start_flows take the key(s) as a new last argument.
alter table pgflow.runs add column if not exists idempotency_key text;
create unique index if not exists runs_idempotency_key on pgflow.runs (flow_slug, idempotency_key)
  where idempotency_key is not null;
drop function if exists pgflow._start_runs(text, jsonb[], uuid[]);
drop function if exists pgflow.start_flow(text, jsonb, uuid);
drop function if exists pgflow.start_flow_with_states(text, jsonb, uuid);
drop function if exists pgflow.start_flows(text, jsonb, uuid[]);

-- Schedules (issue 13): cron schedules of the flows and their fire records.
create table if not exists pgflow.schedules (
  flow_slug text not null references pgflow.flows (flow_slug) on delete cascade,
  schedule_name text not null,
  cron text not null,
  timezone text not null default 'UTC',
  input jsonb not null default '{}',
  overlap text not null default 'skip',
  catch_up text not null default 'latest',
  enabled boolean not null default true,
  paused_at timestamptz,
  settled_until timestamptz not null default now(),
  last_run_id uuid,
  created_at timestamptz not null default now(),
  primary key (flow_slug, schedule_name),
  constraint overlap_is_valid check (overlap in ('skip', 'allow')),
  constraint catch_up_is_valid check (catch_up in ('none', 'latest', 'all'))
);
create table if not exists pgflow.schedule_fires (
  flow_slug text not null,
  schedule_name text not null,
  fire_at timestamptz not null,
  outcome text not null,
  run_id uuid,
  error_message text,
  fired_at timestamptz not null default clock_timestamp(),
  primary key (flow_slug, schedule_name, fire_at),
  foreign key (flow_slug, schedule_name) references pgflow.schedules (flow_slug, schedule_name)
    on delete cascade,
  constraint outcome_is_valid check (outcome in ('started', 'skipped', 'failed', 'triggered'))
);

-- Issue 14: sub-flow steps. A step with child_flow_slug set runs a child run of that flow per
-- task; child runs record their parent task; failed children wait out their retry delay in
-- pgflow.subflow_retries. add_step takes child_flow_slug as a new last argument.
alter table pgflow.steps add column if not exists child_flow_slug text;
alter table pgflow.steps drop constraint if exists step_is_signal_or_subflow;
alter table pgflow.steps add constraint step_is_signal_or_subflow check (
  signal_schema is null or child_flow_slug is null
);
create index if not exists idx_steps_child_flow_slug on pgflow.steps (flow_slug, step_slug)
  where child_flow_slug is not null;
alter table pgflow.runs add column if not exists parent_run_id uuid;
alter table pgflow.runs add column if not exists parent_step_slug text;
alter table pgflow.runs add column if not exists parent_task_index int;
create index if not exists idx_runs_parent on pgflow.runs (
  parent_run_id, parent_step_slug, parent_task_index, started_at
) where parent_run_id is not null;
create index if not exists idx_runs_parent_started on pgflow.runs (parent_run_id)
  where parent_run_id is not null and status = 'started';
create table if not exists pgflow.subflow_retries (
  run_id uuid not null references pgflow.runs (run_id) on delete cascade,
  step_slug text not null,
  task_index int not null,
  due_at timestamptz not null,
  constraint subflow_retries_pkey primary key (run_id, step_slug, task_index)
);
create index if not exists idx_subflow_retries_due_at on pgflow.subflow_retries (due_at);
drop function if exists pgflow.add_step(
  text, text, text[], int, int, int, int, text, jsonb, jsonb, text, text, jsonb
);
-- <Issue 12: step-level flow control (concurrency, rate_limit, priority) and pgflow.explain_run>
-- Step concurrency and rate limits and flow/step/run priorities, enforced inside the claim
-- (docs/flow-control.md). create_flow takes priority, add_step the step options, start_flow and
-- start_flows a per-run priority, each as a new last argument.
alter table pgflow.flows add column if not exists opt_priority int;
alter table pgflow.flows add column if not exists flow_control boolean not null default false;
alter table pgflow.steps add column if not exists opt_priority int;
alter table pgflow.steps add column if not exists opt_concurrency_limit int;
alter table pgflow.steps add column if not exists opt_concurrency_key text;
alter table pgflow.steps add column if not exists opt_rate_limit int;
alter table pgflow.steps add column if not exists opt_rate_per int;
alter table pgflow.steps add column if not exists opt_rate_key text;
alter table pgflow.steps add constraint opt_concurrency_limit_is_positive check (
  opt_concurrency_limit is null or opt_concurrency_limit >= 1
);
alter table pgflow.steps add constraint opt_concurrency_key_needs_limit check (
  opt_concurrency_key is null or opt_concurrency_limit is not null
);
alter table pgflow.steps add constraint opt_rate_limit_is_positive check (
  opt_rate_limit is null or opt_rate_limit >= 1
);
alter table pgflow.steps add constraint opt_rate_per_is_positive check (
  opt_rate_per is null or opt_rate_per >= 1
);
alter table pgflow.steps add constraint opt_rate_limit_and_per_together check (
  (opt_rate_limit is null) = (opt_rate_per is null)
  and (opt_rate_key is null or opt_rate_limit is not null)
);
alter table pgflow.runs add column if not exists priority int;
alter table pgflow.step_tasks add column if not exists fc_key text;
alter table pgflow.step_tasks add column if not exists rate_key text;
alter table pgflow.step_tasks add column if not exists priority int;
create index if not exists idx_step_tasks_fc_queued
  on pgflow.step_tasks (flow_slug, step_slug, fc_key, priority desc, message_id)
  where status = 'queued' and fc_key is not null;
create index if not exists idx_step_tasks_fc_started on pgflow.step_tasks (flow_slug, step_slug, fc_key)
  where status = 'started' and fc_key is not null;
create table if not exists pgflow.rate_starts (
  flow_slug text not null,
  step_slug text not null,
  rate_key text not null,
  started_at timestamptz not null
);
create index if not exists idx_rate_starts_group
  on pgflow.rate_starts (flow_slug, step_slug, rate_key, started_at);
drop function if exists pgflow.create_flow(text, int, int, int, jsonb);
drop function if exists pgflow.add_step(
  text, text, text[], int, int, int, int, text, jsonb, jsonb, text, text, jsonb
);
drop function if exists pgflow.start_flow(text, jsonb, uuid, text);
drop function if exists pgflow.start_flows(text, jsonb, uuid[], text[]);
-- Issue 12: flow concurrency
-- A flow may limit the runs in progress at once (flows.opt_concurrency, {"limit": N} or
-- {"limit": N, "key": "a.b"}; create_flow takes concurrency_limit and concurrency_key as new
-- last arguments). A run that finds no free slot waits in the new run status 'queued'
-- (runs.slot_key: its key value; runs.queue_seq: its place in the queue).
alter table pgflow.flows add column if not exists opt_concurrency jsonb;
alter table pgflow.flows add constraint opt_concurrency_is_valid check (
    case
      when opt_concurrency is null then true
      when jsonb_typeof(opt_concurrency) <> 'object'
        or jsonb_typeof(opt_concurrency -> 'limit') is distinct from 'number' then false
      else (opt_concurrency - 'limit' - 'key') = '{}'::jsonb
        and (opt_concurrency ->> 'limit')::numeric between 1 and 2147483647
        and (opt_concurrency ->> 'limit')::numeric = trunc((opt_concurrency ->> 'limit')::numeric)
        and (
          not opt_concurrency ? 'key'
          or (
            jsonb_typeof(opt_concurrency -> 'key') = 'string'
            and opt_concurrency ->> 'key' ~ '^[^.]+(\.[^.]+)*$'
          )
        )
    end
  );
drop function if exists pgflow.create_flow(text, int, int, int, jsonb);
alter table pgflow.runs add column if not exists slot_key text;
alter table pgflow.runs add column if not exists queue_seq bigint;
alter table pgflow.runs drop constraint if exists status_is_valid;
alter table pgflow.runs add constraint status_is_valid check (
  status in ('queued', 'started', 'completed', 'failed', 'cancelled')
);
create sequence if not exists pgflow.run_queue_seq as bigint;
create index if not exists idx_runs_slots on pgflow.runs (flow_slug, slot_key, status, queue_seq)
  where status in ('queued', 'started') and slot_key is not null;
-- Issue 16: history and prune. Runs lose their indexes on status and on flow_slug alone (the
-- first costs an insert into one huge run of equal keys at every status change, measurably
-- slower with a large history; (flow_slug, started_at, run_id) serves flow_slug). prune_batch is
-- a new function (no migration text needed).
drop index if exists pgflow.idx_runs_status;
drop index if exists pgflow.idx_runs_flow_slug;
-- Issue 14: sub-flow children queued behind their flow's concurrency limit (issue 12). A parent's
-- end (and the start_due_subflows sweep) cancels its queued children too, so the partial index
-- of the children to cancel covers both statuses.
drop index if exists pgflow.idx_runs_parent_started;
create index if not exists idx_runs_parent_open on pgflow.runs (parent_run_id)
  where parent_run_id is not null and status in ('queued', 'started');
-- Issue 12, the keyed limit's price: the flow-control claim serves the groups of a flow whose
-- tasks share one priority round-robin from a per-session cursor; it asks first whether a run
-- started with a priority is in progress (this index holds only those runs).
create index if not exists idx_runs_priority on pgflow.runs (flow_slug)
  where priority is not null and status in ('queued', 'started');
-- The new tasks' flow-control tags are computed in _start_ready_steps' insert: the per-task
-- function of the 0.3.0 candidate is gone.
drop function if exists pgflow._fc_tags(uuid, text, int);
