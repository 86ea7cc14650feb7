-- _queued_run_position(run_id): for a queued run, its 1-based position among the queued runs
-- of its flow and concurrency key (the order they start in: highest run priority first, the
-- start's override else the flow's priority, then arrival order), and the ids of the runs
-- holding that key's slots now (started, oldest first). No row for a run that is not queued.
-- Internal (what pgflow.explain_run says about a queued run). Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._queued_run_position(run_id uuid)
returns table ("position" int, holding_runs uuid[])
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select
    (
      select count(*)::int from pgflow.runs q
      where q.flow_slug = r.flow_slug and q.slot_key = r.slot_key and q.status = 'queued'
        and (coalesce(q.priority, p.priority), - q.queue_seq)
          >= (coalesce(r.priority, p.priority), - r.queue_seq)
    ),
    array(
      select h.run_id from pgflow.runs h
      where h.flow_slug = r.flow_slug and h.slot_key = r.slot_key and h.status = 'started'
      order by h.started_at, h.run_id
    )
  from pgflow.runs r
  cross join lateral (
    select coalesce(f.opt_priority, 0) as priority from pgflow.flows f
    where f.flow_slug = r.flow_slug
  ) p
  where r.run_id = _queued_run_position.run_id and r.status = 'queued';
$$;
