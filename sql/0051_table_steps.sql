-- Table steps: the steps of a flow in declaration order (step_index), with their options
-- (null = inherit the flow's), type, conditions and failure modes. signal_schema is set on a
-- signal step (no handler: it waits for pgflow.signal), holding the JSON Schema of its payload
-- (true: any payload). child_flow_slug is set on a sub-flow step (no handler: each task runs a
-- child run of that flow, started by the core; docs/waits-and-subflows.md); a step is at most
-- one of signal and sub-flow. The flow it names need not exist yet (checked when a task starts).
-- Raises (on insert): steps_flow_slug_fkey, steps_step_slug_check, steps_step_type_check,
-- opt_*_is_* checks, *_input_pattern_is_object, when_unmet_is_valid, when_exhausted_is_valid,
-- step_is_signal_or_subflow, opt_concurrency_key_needs_limit, opt_rate_limit_and_per_together.
set search_path = pg_catalog, pg_temp;

create table if not exists pgflow.steps (
  flow_slug text not null references pgflow.flows (flow_slug),
  step_slug text not null check (pgflow.is_valid_slug(step_slug)),
  step_type text not null default 'single' check (step_type in ('single', 'map')),
  step_index int not null default 0,
  deps_count int not null default 0,
  opt_max_attempts int,
  opt_base_delay int,
  opt_timeout int,
  opt_start_delay int,
  required_input_pattern jsonb,
  forbidden_input_pattern jsonb,
  when_unmet text not null default 'skip',
  when_exhausted text not null default 'fail',
  signal_schema jsonb,
  child_flow_slug text,
  created_at timestamptz not null default now(),
  -- flow control (docs/flow-control.md): null = none (opt_priority null: the flow's)
  opt_priority int,
  opt_concurrency_limit int,
  opt_concurrency_key text,
  opt_rate_limit int,
  opt_rate_per int,
  opt_rate_key text,
  constraint steps_pkey primary key (flow_slug, step_slug),
  constraint steps_flow_slug_step_index_key unique (flow_slug, step_index),
  constraint deps_count_is_nonnegative check (deps_count >= 0),
  constraint opt_max_attempts_is_nonnegative check (opt_max_attempts is null or opt_max_attempts >= 0),
  constraint opt_base_delay_is_nonnegative check (opt_base_delay is null or opt_base_delay >= 0),
  constraint opt_timeout_is_positive check (opt_timeout is null or opt_timeout > 0),
  constraint opt_start_delay_is_nonnegative check (opt_start_delay is null or opt_start_delay >= 0),
  constraint required_input_pattern_is_object check (
    required_input_pattern is null or jsonb_typeof(required_input_pattern) = 'object'
  ),
  constraint forbidden_input_pattern_is_object check (
    forbidden_input_pattern is null or jsonb_typeof(forbidden_input_pattern) = 'object'
  ),
  constraint when_unmet_is_valid check (when_unmet in ('fail', 'skip', 'skip-cascade')),
  constraint when_exhausted_is_valid check (when_exhausted in ('fail', 'skip', 'skip-cascade')),
  constraint step_is_signal_or_subflow check (signal_schema is null or child_flow_slug is null),
  constraint opt_concurrency_limit_is_positive check (
    opt_concurrency_limit is null or opt_concurrency_limit >= 1
  ),
  constraint opt_concurrency_key_needs_limit check (
    opt_concurrency_key is null or opt_concurrency_limit is not null
  ),
  constraint opt_rate_limit_is_positive check (opt_rate_limit is null or opt_rate_limit >= 1),
  constraint opt_rate_per_is_positive check (opt_rate_per is null or opt_rate_per >= 1),
  constraint opt_rate_limit_and_per_together check (
    (opt_rate_limit is null) = (opt_rate_per is null)
    and (opt_rate_key is null or opt_rate_limit is not null)
  )
);

-- the sub-flow steps: _start_subflow_steps looks here first, so flows without any cost nothing
create index if not exists idx_steps_child_flow_slug on pgflow.steps (flow_slug, step_slug)
  where child_flow_slug is not null;
