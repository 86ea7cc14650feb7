-- prune(older_than): delete the runs that ended (completed, failed or cancelled) more than
-- older_than ago, with their step states, tasks and queue messages (archived or not), and the
-- workers that stopped or stopped sending heartbeats that long ago, and the schedule fire
-- records that old whose run is gone (or that started none), and the rate_starts rows that have
-- left their step's rate window. Returns the number of runs deleted.
-- All in the caller's transaction, by pgflow.prune_batch steps of 10,000 runs; runs locked by
-- another transaction are skipped. To prune a large history without holding locks for long,
-- call prune_batch in autocommit instead (pgflow prune does).
-- Raises: 'older_than must not be negative (got %)'.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.prune(older_than interval)
returns int
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan to off
set jit to off
as $$
#variable_conflict use_column
declare
  v_cutoff timestamptz;
  v_total int := 0;
  v_batch record;
  v_after_started_at timestamptz;
  v_after_run_id uuid;
begin
  if prune.older_than is null or prune.older_than < interval '0' then
    raise exception 'older_than must not be negative (got %)', coalesce(prune.older_than::text, 'null');
  end if;
  v_cutoff := clock_timestamp() - prune.older_than;

  loop
    select * into v_batch
    from pgflow.prune_batch(v_cutoff, 10000, v_after_started_at, v_after_run_id);
    v_total := v_total + v_batch.runs_deleted;
    exit when v_batch.last_run_id is null;
    v_after_started_at := v_batch.last_started_at;
    v_after_run_id := v_batch.last_run_id;
  end loop;

  return v_total;
end;
$$;
