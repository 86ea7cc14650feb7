-- prune_batch(cutoff, batch_size, after_started_at, after_run_id): one bounded step of pruning.
-- Looks at the next batch_size runs that started before cutoff, in (started_at, run_id) order
-- after the cursor (after_started_at, after_run_id; both null: from the first run), and deletes
-- those that ended (completed, failed or cancelled) before cutoff with their step states, tasks,
-- pending signals and queue messages (archived or not, found by the tasks' message ids). Runs
-- locked by someone else are skipped (for update skip locked), so a worker is never waited for;
-- a running run is left alone. Each call also deletes up to batch_size rows of rate_starts that
-- have left their step's rate window (every row of a step that has no rate limit now), whatever
-- cutoff: a rate key never seen again would otherwise keep its rows for good; rows locked
-- elsewhere are skipped. Call it again with the returned cursor until last_run_id is null (after
-- the last run, the cursor is (cutoff, the nil uuid) while rate_starts rows may remain): that
-- last call also deletes the schedule fire records older than cutoff whose run is gone (or that
-- started none) and the workers that stopped or stopped sending heartbeats before cutoff.
-- Each call is one short transaction when the caller runs in autocommit (pgflow prune does).
-- Returns one row: runs_deleted, and the cursor for the next call (null when done).
-- Raises: 'cutoff must not be null'; 'batch_size must be positive (got %)';
-- 'after_started_at and after_run_id go together'.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.prune_batch(
  cutoff timestamptz,
  batch_size int default 1000,
  after_started_at timestamptz default null,
  after_run_id uuid default null
)
returns table (runs_deleted int, last_started_at timestamptz, last_run_id uuid)
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan to off
set jit to off
as $$
#variable_conflict use_column
declare
  v_candidates uuid[];
  v_scanned int;
  v_last_started_at timestamptz;
  v_last_run_id uuid;
  v_run_ids uuid[];
  v_flow record;
  v_rates_deleted int;
begin
  if prune_batch.cutoff is null then
    raise exception 'cutoff must not be null';
  end if;
  if prune_batch.batch_size is null or prune_batch.batch_size < 1 then
    raise exception 'batch_size must be positive (got %)',
      coalesce(prune_batch.batch_size::text, 'null');
  end if;
  if (prune_batch.after_started_at is null) <> (prune_batch.after_run_id is null) then
    raise exception 'after_started_at and after_run_id go together';
  end if;

  -- the next candidates, by idx_runs_started_at_run_id from the cursor: a run that ended before
  -- the cutoff started before it, and the cursor keeps each call from reading the entries of
  -- the runs the previous calls deleted
  select array_agg(c.run_id order by c.started_at, c.run_id), count(*),
         (array_agg(c.started_at order by c.started_at desc, c.run_id desc))[1],
         (array_agg(c.run_id order by c.started_at desc, c.run_id desc))[1]
  into v_candidates, v_scanned, v_last_started_at, v_last_run_id
  from (
    select r.started_at, r.run_id from pgflow.runs r
    where r.started_at < prune_batch.cutoff
      and (r.started_at, r.run_id) > (
        coalesce(prune_batch.after_started_at, '-infinity'::timestamptz),
        coalesce(prune_batch.after_run_id, '00000000-0000-0000-0000-000000000000'::uuid)
      )
    order by r.started_at, r.run_id
    limit prune_batch.batch_size
  ) c;

  v_run_ids := array(
    select r.run_id from pgflow.runs r
    where r.run_id = any(coalesce(v_candidates, '{}'))
      and r.status in ('completed', 'failed', 'cancelled')
      and coalesce(r.completed_at, r.failed_at, r.cancelled_at) < prune_batch.cutoff
    order by r.run_id
    for update skip locked
  );

  if cardinality(v_run_ids) > 0 then
    -- every message of a task is the one its step_tasks row names (a retry makes the same
    -- message visible again), so primary-key deletes find them: the queue tables have no index
    -- on the message's run_id
    -- (retry_run deleted the messages of the tasks it re-created with them)
    for v_flow in
      select t.flow_slug, array_agg(t.message_id) as msg_ids
      from pgflow.step_tasks t
      where t.run_id = any(v_run_ids) and t.message_id is not null
      group by t.flow_slug
    loop
      perform pgflow._delete_messages(v_flow.flow_slug, v_flow.msg_ids);
    end loop;

    delete from pgflow.step_tasks t where t.run_id = any(v_run_ids);
    delete from pgflow.step_states ss where ss.run_id = any(v_run_ids);
    delete from pgflow.runs r where r.run_id = any(v_run_ids);
  end if;

  -- the claim counts only a group's rows inside the window, and _fc_started deletes the expired
  -- rows of a group only when that group starts a task again
  delete from pgflow.rate_starts rs
  where rs.ctid = any(array(
    select x.ctid
    from pgflow.rate_starts x
    left join pgflow.steps s on s.flow_slug = x.flow_slug and s.step_slug = x.step_slug
    where s.opt_rate_per is null
      or x.started_at
        < pg_catalog.clock_timestamp() - pg_catalog.make_interval(secs => s.opt_rate_per)
    limit prune_batch.batch_size
    for update of x skip locked
  ));
  get diagnostics v_rates_deleted = row_count;

  if v_scanned < prune_batch.batch_size and v_rates_deleted = prune_batch.batch_size then
    -- no run left to look at, but maybe more rate_starts rows: a cursor past every run
    v_last_started_at := prune_batch.cutoff;
    v_last_run_id := '00000000-0000-0000-0000-000000000000'::uuid;
  elsif v_scanned < prune_batch.batch_size then
    delete from pgflow.schedule_fires f
    where f.fire_at < prune_batch.cutoff
      and not exists (select 1 from pgflow.runs r where r.run_id = f.run_id);

    delete from pgflow.workers w
    where coalesce(w.stopped_at, w.last_heartbeat_at) < prune_batch.cutoff;

    v_last_started_at := null;
    v_last_run_id := null;
  end if;

  return query select cardinality(v_run_ids), v_last_started_at, v_last_run_id;
end;
$$;
