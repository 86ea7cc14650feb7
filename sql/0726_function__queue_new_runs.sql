-- _queue_new_runs(flow_slug, run_ids): called (one line) by _start_runs right after it inserts
-- runs of a flow and their step states, before anything of them advances: when the flow has a
-- concurrency limit, each new run gets its slot_key and joins the end of its key's queue (in
-- run_ids order), then every key's queue is admitted oldest first (_admit_queued_runs): older
-- queued runs before the new ones, the new ones while slots are free. A new run admitted here is
-- only marked 'started' (_start_runs advances it); the others stay 'queued' (their step states
-- exist, nothing starts). Does nothing for a flow without a limit.
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
  v_key text;
begin
  select f.opt_concurrency into v_concurrency
  from pgflow.flows f where f.flow_slug = _queue_new_runs.flow_slug;
  if v_concurrency is null then
    return;
  end if;

  update pgflow.runs r
  set status = 'queued',
      slot_key = pgflow._run_slot_key(v_concurrency, r.input),
      queue_seq = q.seq
  from (
    select u.run_id, pg_catalog.nextval('pgflow.run_queue_seq') as seq
    from (
      select u.run_id, u.ord from unnest(_queue_new_runs.run_ids) with ordinality as u(run_id, ord)
      order by u.ord
    ) u
  ) q
  where r.run_id = q.run_id;

  for v_key in
    select k.slot_key from (
      select distinct r.slot_key from pgflow.runs r where r.run_id = any(_queue_new_runs.run_ids)
    ) k
    order by pg_catalog.hashtext(_queue_new_runs.flow_slug || '/' || k.slot_key)
  loop
    if pgflow._lock_run_slot(_queue_new_runs.flow_slug, v_key) then
      perform pgflow._admit_queued_runs(_queue_new_runs.flow_slug, v_key, _queue_new_runs.run_ids);
    end if;
  end loop;
end;
$$;
