-- Tables schedules and schedule_fires: the cron schedules of the flows (written by the compiled
-- migration through set_schedules, paused and resumed at run time) and one row per fire time
-- that was handled. Every fire time up to schedules.settled_until is settled; the primary key
-- of schedule_fires makes a fire time start at most one run (docs/schedules.md).
-- Raises (on write): schedules_flow_slug_fkey, overlap_is_valid, catch_up_is_valid,
-- schedule_fires_pkey, outcome_is_valid.
set search_path = pg_catalog, pg_temp;

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
