-- Table flows: one row per flow definition, with the options every step inherits and the
-- priority of its runs (opt_priority; flow_control: the claim honours limits and priorities), and the
-- input_schema (a JSON Schema, object or boolean; null: none) that clients check each run's input
-- against before starting it (the core itself does not: PostgreSQL has no JSON Schema validator),
-- and the concurrency limit of its runs: {"limit": N} or {"limit": N, "key": "a.b"} (null: none).
-- Raises (on insert): slug_is_valid, opt_*_is_* checks, flows_slug_is_unique_ignoring_case
-- (pgmq lowercases queue names, so "Foo" and "foo" would share a queue).
set search_path = pg_catalog, pg_temp;

create table if not exists pgflow.flows (
  flow_slug text primary key,
  opt_max_attempts int not null default 3,
  opt_base_delay int not null default 1,
  opt_timeout int not null default 60,
  created_at timestamptz not null default now(),
  opt_input_schema jsonb, -- after created_at: the column 0.3.0 added, last in upgrades too
  opt_priority int, -- flow control (docs/flow-control.md): null = 0
  flow_control boolean not null default false, -- a step limit or a priority is in play
  opt_concurrency jsonb,
  constraint slug_is_valid check (pgflow.is_valid_slug(flow_slug)),
  constraint opt_max_attempts_is_nonnegative check (opt_max_attempts >= 0),
  constraint opt_base_delay_is_nonnegative check (opt_base_delay >= 0),
  constraint opt_timeout_is_positive check (opt_timeout > 0),
  constraint opt_input_schema_is_a_schema
    check (jsonb_typeof(opt_input_schema) in ('object', 'boolean')),
  constraint opt_concurrency_is_valid check (
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
  )
);

create unique index if not exists flows_slug_is_unique_ignoring_case on pgflow.flows (lower(flow_slug));
