-- Table rate_starts: one row per start of a task of a step with a rate limit (steps.opt_rate_*),
-- by the value of its rate key ('' without one), at the task's started_at. The claim counts a
-- group's rows younger than the step's window under the group's advisory lock, so the count is
-- exact whatever the number of workers; rows older than the window are deleted as the group
-- records a start (pgflow._fc_started), and by pgflow.prune / prune_batch (the rows of a key
-- never seen again, or of a step that no longer has a rate limit) (docs/flow-control.md).
-- Raises nothing.
set search_path = pg_catalog, pg_temp;

create table if not exists pgflow.rate_starts (
  flow_slug text not null,
  step_slug text not null,
  rate_key text not null,
  started_at timestamptz not null
);

create index if not exists idx_rate_starts_group
  on pgflow.rate_starts (flow_slug, step_slug, rate_key, started_at);
