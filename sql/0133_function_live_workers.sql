-- live_workers(flow_slug, stale_after): count the live workers serving a flow: rows of
-- pgflow.workers whose queue_name is the flow's slug or lists it (a pgflow-yaml worker registers
-- the comma-separated slugs it serves), neither stopped nor deprecated, whose last heartbeat is
-- at most stale_after old (default 30 seconds; workers heartbeat every 5 s by default). Runs as
-- its owner, past the row-level security of pgflow.workers, so a client can tell "no worker
-- serves this flow" from "the workers are busy"; it returns the count and nothing else about the
-- workers.
-- Raises nothing; a null argument counts nothing (0).
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.live_workers(
  flow_slug text,
  stale_after interval default interval '30 seconds'
)
returns int
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select count(*)::int
  from pgflow.workers w
  where live_workers.flow_slug = any(pg_catalog.string_to_array(w.queue_name, ','))
    and w.stopped_at is null
    and w.deprecated_at is null
    and w.last_heartbeat_at >= pg_catalog.now() - live_workers.stale_after;
$$;
