-- _lock_runs(run_ids): lock the given runs' rows in run_id order, so that transactions touching
-- several runs (the batch calls) can never deadlock with each other or with single-run calls.
-- (plpgsql rather than sql: it runs once per batch, and plpgsql keeps its plan.)
-- Internal. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._lock_runs(run_ids uuid[])
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  perform 1 from (
    select r.run_id from pgflow.runs r
    where r.run_id = any(_lock_runs.run_ids)
    order by r.run_id
    for no key update
  ) locked;
end;
$$;
