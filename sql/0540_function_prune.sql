-- prune(older_than): delete the runs that ended (completed, failed or cancelled) more than
-- older_than ago, with their step states, tasks and archived queue messages, and the workers
-- that stopped or stopped sending heartbeats that long ago, and the schedule fire records that
-- old whose run is gone (or that started none). Returns the number of runs deleted.
-- Raises: 'older_than must not be negative (got %)'.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.prune(older_than interval)
returns int
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan to off
as $$
#variable_conflict use_column
declare
  v_cutoff timestamptz;
  v_run_ids uuid[];
  v_flow record;
begin
  if prune.older_than is null or prune.older_than < interval '0' then
    raise exception 'older_than must not be negative (got %)', coalesce(prune.older_than::text, 'null');
  end if;
  v_cutoff := clock_timestamp() - prune.older_than;

  v_run_ids := array(
    select r.run_id from pgflow.runs r
    where r.status in ('completed', 'failed', 'cancelled')
      and coalesce(r.completed_at, r.failed_at, r.cancelled_at) < v_cutoff
    order by r.run_id
    for update
  );

  for v_flow in
    select r.flow_slug, array_agg(r.run_id::text) as run_ids
    from pgflow.runs r
    where r.run_id = any(v_run_ids)
    group by r.flow_slug
  loop
    if exists (select 1 from pgmq.meta m where m.queue_name = v_flow.flow_slug) then
      execute format(
        'delete from pgmq.%I where message ->> ''run_id'' = any($1)',
        pgmq.format_table_name(v_flow.flow_slug, 'a')
      ) using v_flow.run_ids;
      execute format(
        'delete from pgmq.%I where message ->> ''run_id'' = any($1)',
        pgmq.format_table_name(v_flow.flow_slug, 'q')
      ) using v_flow.run_ids;
    end if;
  end loop;

  delete from pgflow.step_tasks t where t.run_id = any(v_run_ids);
  delete from pgflow.step_states ss where ss.run_id = any(v_run_ids);
  delete from pgflow.runs r where r.run_id = any(v_run_ids);

  delete from pgflow.schedule_fires f
  where f.fire_at < v_cutoff
    and not exists (select 1 from pgflow.runs r where r.run_id = f.run_id);

  delete from pgflow.workers w
  where coalesce(w.stopped_at, w.last_heartbeat_at) < v_cutoff;

  return cardinality(v_run_ids);
end;
$$;
