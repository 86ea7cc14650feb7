-- complete_and_claim(results, flow_slugs, worker_id, qty, vt): complete_tasks(results), then
-- claim_tasks(flow_slugs, worker_id, qty, vt), in one transaction and one round trip. A worker
-- with free slots reports its finished tasks with it and takes at once the tasks that the report
-- made ready (the next step of a chain) and any other visible task of its flows, instead of
-- waiting for a wake-up and a second call: the hand-off from one step to the next costs one
-- database call. The completion is exactly complete_tasks'; the claim exactly claim_tasks' (it
-- sees the tasks the completion queued; it waits on no lock: its reads skip locked rows), so
-- the runs of the batch stay locked until the claim is done.
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
as $$
begin
  perform 1 from pgflow.complete_tasks(complete_and_claim.results);
  return query
    select * from pgflow.claim_tasks(
      complete_and_claim.flow_slugs, complete_and_claim.worker_id, complete_and_claim.qty,
      complete_and_claim.vt
    );
end;
$$;
