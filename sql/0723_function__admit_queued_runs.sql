-- _admit_queued_runs(flow_slug, slot_key, fresh): start the queued runs of a flow and
-- concurrency key that fit under its limit, highest run priority first (runs.priority, the
-- start's override, else the flow's priority), then oldest first (queue_seq), until the slots
-- are full or nobody waits; with no limit left (it was removed) every queued run starts. A run in
-- fresh (a run that its caller is starting or retrying right now) only gets status 'started':
-- the caller advances it; any other admitted run is advanced here as a new run would be
-- (conditions, taskless steps, then its ready steps' tasks; sends run:started). A queued run
-- locked by another transaction (a cancel) is skipped. While it advances runs, a run that
-- completes at once does not release its slot by itself (pgflow.admitting): the loop counts
-- again. Returns the ids of the runs it started, in order.
-- Internal; the caller holds the slot lock (_lock_run_slot). Raises what _advance_run raises.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._admit_queued_runs(
  flow_slug text,
  slot_key text,
  fresh uuid[] default '{}'
)
returns uuid[]
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_limit int;
  v_priority int;
  v_free bigint;
  v_ids uuid[];
  v_advance uuid[];
  v_all uuid[] := '{}';
  v_run_id uuid;
  v_outer boolean := coalesce(pg_catalog.current_setting('pgflow.admitting', true), '') = '';
begin
  select (f.opt_concurrency ->> 'limit')::int, coalesce(f.opt_priority, 0)
  into v_limit, v_priority
  from pgflow.flows f where f.flow_slug = _admit_queued_runs.flow_slug;

  loop
    -- nobody waiting (the common case of a release): done, without counting the slots
    exit when not exists (
      select 1 from pgflow.runs r
      where r.flow_slug = _admit_queued_runs.flow_slug
        and r.slot_key = _admit_queued_runs.slot_key
        and r.status = 'queued'
    );
    if v_limit is null then
      v_free := 1000;
    else
      select v_limit - count(*) into v_free
      from pgflow.runs r
      where r.flow_slug = _admit_queued_runs.flow_slug
        and r.slot_key = _admit_queued_runs.slot_key
        and r.status = 'started';
    end if;
    exit when v_free <= 0;

    -- the next runs in queue order: the first v_free of the runs without a priority of their
    -- own (the flow's priority: idx_runs_slots, in queue_seq order) merged with the first
    -- v_free of the runs started with one (few: idx_runs_priority), each locked as it is read
    v_ids := array(
      with plain as (
        select r.run_id, v_priority as priority, r.queue_seq from pgflow.runs r
        where r.flow_slug = _admit_queued_runs.flow_slug
          and r.slot_key = _admit_queued_runs.slot_key
          and r.status = 'queued'
          and r.priority is null
        order by r.queue_seq
        limit v_free
        for no key update skip locked
      ),
      prioritized as (
        select r.run_id, r.priority, r.queue_seq from pgflow.runs r
        where r.flow_slug = _admit_queued_runs.flow_slug
          and r.priority is not null
          and r.status = 'queued'
          and r.slot_key = _admit_queued_runs.slot_key
        order by r.priority desc, r.queue_seq
        limit v_free
        for no key update skip locked
      )
      select q.run_id
      from (select * from plain union all select * from prioritized) q
      order by q.priority desc, q.queue_seq
      limit v_free
    );
    exit when cardinality(v_ids) = 0;

    update pgflow.runs r set status = 'started'
    where r.run_id = any(v_ids);
    v_all := v_all || v_ids;

    v_advance := array(
      select u.id from unnest(v_ids) with ordinality as u(id, ord)
      where not u.id = any(_admit_queued_runs.fresh)
      order by u.ord
    );
    continue when cardinality(v_advance) = 0;

    if to_regnamespace('realtime') is not null then
      perform pgflow._emit('run:started', pgflow._run_event(r), r.run_id)
      from unnest(v_advance) with ordinality as u(id, ord)
      join pgflow.runs r on r.run_id = u.id
      order by u.ord;
    end if;
    perform pg_catalog.set_config('pgflow.admitting', 'on', true);
    foreach v_run_id in array v_advance loop
      perform pgflow._advance_run(v_run_id, false);
    end loop;
    perform pgflow._start_ready_steps(v_advance);
    if v_outer then
      perform pg_catalog.set_config('pgflow.admitting', '', true);
    end if;
  end loop;
  return v_all;
end;
$$;
