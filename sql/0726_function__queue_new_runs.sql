-- _queue_new_runs(flow_slug, run_ids): called (one line) by _start_runs right after it inserts
-- runs of a flow and their step states, before anything of them advances: when the flow has a
-- concurrency limit, each new run gets its slot_key and a place in its key's queue (queue_seq,
-- in run_ids order), and, key by key: when nobody of its key waits yet, the first new runs that
-- fit the free slots stay 'started' (_start_runs advances them) and the rest become 'queued';
-- when older runs of its key wait, every new run is queued behind them and the queue is
-- admitted oldest first (_admit_queued_runs, which only marks admitted new runs 'started').
-- A key whose slot lock this transaction cannot take without risking a deadlock
-- (_lock_run_slot) queues all its new runs (pgflow._admit_all_queued_runs starts them).
-- A queued run has its step states; nothing of it starts. Does nothing for a flow without a
-- limit (one primary-key read).
-- Internal; the caller took the slot locks first (_lock_start_slots). Raises what _advance_run
-- raises.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._queue_new_runs(flow_slug text, run_ids uuid[])
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_concurrency jsonb;
  v_group record;
  v_locked boolean;
  v_waiting boolean;
  v_free int;
begin
  select f.opt_concurrency into v_concurrency
  from pgflow.flows f where f.flow_slug = _queue_new_runs.flow_slug;
  if v_concurrency is null then
    return;
  end if;

  update pgflow.runs r
  set slot_key = pgflow._run_slot_key(v_concurrency, r.input),
      queue_seq = q.seq
  from (
    select u.run_id, pg_catalog.nextval('pgflow.run_queue_seq') as seq
    from (
      select u.run_id, u.ord from unnest(_queue_new_runs.run_ids) with ordinality as u(run_id, ord)
      order by u.ord
    ) u
  ) q
  where r.run_id = q.run_id;

  for v_group in
    select r.slot_key, array_agg(r.run_id order by r.queue_seq) as ids
    from pgflow.runs r
    where r.run_id = any(_queue_new_runs.run_ids)
    group by r.slot_key
    order by pg_catalog.hashtext(_queue_new_runs.flow_slug || '/' || r.slot_key)
  loop
    v_locked := pgflow._lock_run_slot(_queue_new_runs.flow_slug, v_group.slot_key);
    v_waiting := exists (
      select 1 from pgflow.runs r
      where r.flow_slug = _queue_new_runs.flow_slug and r.slot_key = v_group.slot_key
        and r.status = 'queued'
    );
    v_free := 0;
    if v_locked and not v_waiting then
      -- the new runs are 'started' too (as inserted): count them out
      select (v_concurrency ->> 'limit')::int - (count(*) - cardinality(v_group.ids)) into v_free
      from pgflow.runs r
      where r.flow_slug = _queue_new_runs.flow_slug and r.slot_key = v_group.slot_key
        and r.status = 'started';
    end if;

    -- the first v_free new runs of the key keep their slot; the others wait
    if v_free < cardinality(v_group.ids) then
      update pgflow.runs r set status = 'queued'
      where r.run_id = any(v_group.ids[greatest(v_free, 0) + 1:]);
    end if;
    if v_locked and v_waiting then
      perform pgflow._admit_queued_runs(
        _queue_new_runs.flow_slug, v_group.slot_key, _queue_new_runs.run_ids
      );
    end if;
  end loop;
end;
$$;
