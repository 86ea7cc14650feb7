-- complete_and_claim(results, flow_slugs, worker_id, qty, vt): complete_tasks(results), then
-- claim_tasks(flow_slugs, worker_id, qty, vt), in one transaction and one round trip. An idle
-- worker reports a lone finished task with it and takes at once the task that the report made
-- ready (the next step of a chain) with any other visible task of its flows, instead of waiting
-- for the wake-up of that commit and a second call: the hand-off from one step to the next costs
-- one database call. The completion is exactly complete_tasks'; the claim exactly claim_tasks'
-- (it sees the tasks the completion queued; it waits on no lock: its reads skip locked rows),
-- so the runs of the batch stay locked until the claim is done.
-- The wake-up (NOTIFY pgflow_tasks) that the completion would send for the tasks it made visible
-- is sent after the claim, and only when the claim took all it asked for or names a flow the
-- claim did not serve: a claim that got fewer than qty left nothing in its flows that another
-- worker's claim could take at that moment (it sees the same tasks, limits and locks), so the
-- wake-up would only make every listening worker (this one first) claim for nothing.
-- Returns the claimed_task rows of the claim (the outcome of each completed item is not
-- returned: complete_tasks' rows are for callers that need them).
-- Raises what complete_tasks and claim_tasks raise (and then nothing is completed).
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.complete_and_claim(
  results jsonb,
  flow_slugs text[],
  worker_id uuid,
  qty int default 10,
  vt int default 5
)
returns setof pgflow.claimed_task
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
-- (no enable_seqscan / jit settings of its own: complete_tasks and claim_tasks set theirs, and
-- each setting costs a save and a restore per call)
as $$
declare
  v_claimed pgflow.claimed_task[];
  v_flow text;
begin
  -- (transaction settings: rolled back with an error, reset below otherwise)
  perform pg_catalog.set_config('pgflow.deferred_wakes', '', true);
  perform pg_catalog.set_config('pgflow.defer_wakes', 'on', true);
  perform 1 from pgflow.complete_tasks(complete_and_claim.results);
  perform pg_catalog.set_config('pgflow.defer_wakes', '', true);
  v_claimed := array(
    select c from pgflow.claim_tasks(
      complete_and_claim.flow_slugs, complete_and_claim.worker_id, complete_and_claim.qty,
      complete_and_claim.vt
    ) c
  );
  for v_flow in
    select distinct w.flow_slug
    from pg_catalog.unnest(pg_catalog.string_to_array(
      pg_catalog.current_setting('pgflow.deferred_wakes'), ',')) as w(flow_slug)
    where w.flow_slug <> ''
      and (cardinality(v_claimed) >= complete_and_claim.qty
        or not w.flow_slug = any(complete_and_claim.flow_slugs))
    order by w.flow_slug
  loop
    perform pg_catalog.pg_notify('pgflow_tasks', v_flow);
  end loop;
  perform pg_catalog.set_config('pgflow.deferred_wakes', '', true);
  return query select * from pg_catalog.unnest(v_claimed);
end;
$$;
