-- Table flows: one row per flow definition, with the options every step inherits.
-- Raises (on insert): slug_is_valid, opt_*_is_* checks, flows_slug_is_unique_ignoring_case
-- (pgmq lowercases queue names, so "Foo" and "foo" would share a queue).
set search_path = pg_catalog, pg_temp;

create table if not exists pgflow.flows (
  flow_slug text primary key,
  opt_max_attempts int not null default 3,
  opt_base_delay int not null default 1,
  opt_timeout int not null default 60,
  created_at timestamptz not null default now(),
  constraint slug_is_valid check (pgflow.is_valid_slug(flow_slug)),
  constraint opt_max_attempts_is_nonnegative check (opt_max_attempts >= 0),
  constraint opt_base_delay_is_nonnegative check (opt_base_delay >= 0),
  constraint opt_timeout_is_positive check (opt_timeout > 0)
);

create unique index if not exists flows_slug_is_unique_ignoring_case on pgflow.flows (lower(flow_slug));
