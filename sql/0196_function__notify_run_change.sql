-- _notify_run_change(): statement-level trigger function that tells listeners which runs a
-- statement changed: pg_notify('pgflow_runs', <comma-separated run ids>), or '*' when the
-- statement touched more than 100 runs (a bulk start, a prune). PostgreSQL folds identical
-- notifications of one transaction into one, and delivers them at commit. `pgflow ui` listens on
-- this channel with one connection and pushes the changes to the open pages.
-- The three triggers that call it are created here too, with `create or replace trigger`: an
-- upgrade re-applies the function files after the migrations, and a trigger needs its function
-- to exist. They fire once per statement (not per row) on run starts and changes (runs, insert
-- and update) and on step changes (step_states, update), and only while someone listens: a
-- listener holds the shared advisory lock 7342002 on its listening session (`pgflow ui` does,
-- before LISTEN pgflow_runs), and each trigger's WHEN clause tries that lock exclusively and lets
-- it go at once (a few microseconds, no privilege needed, no function call): when it gets the
-- lock, nobody listens and nothing is sent. A NOTIFY is not free: the committing transaction
-- holds a database-wide lock across its commit, WAL flush included, so workers that all notify
-- commit one at a time (the batch chain benchmark lost about a quarter of its tasks/s to it).
-- A try that fails only because another session tests the lock at that very instant sends a
-- notification nobody needs, which is harmless. Internal. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._notify_run_change()
returns trigger
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_ids text[];
begin
  select pg_catalog.array_agg(s.run_id::text)
  into v_ids
  from (select distinct c.run_id from changed as c limit 101) as s;
  if v_ids is null then
    return null;
  end if;
  perform pg_catalog.pg_notify(
    'pgflow_runs',
    case
      when pg_catalog.cardinality(v_ids) > 100 then '*'
      else pg_catalog.array_to_string(v_ids, ',')
    end
  );
  return null;
end;
$$;

create or replace trigger runs_inserted_notify
  after insert on pgflow.runs
  referencing new table as changed
  for each statement
  when (case
    when pg_catalog.pg_try_advisory_lock(7342002) then not pg_catalog.pg_advisory_unlock(7342002)
    else true
  end)
  execute function pgflow._notify_run_change();

create or replace trigger runs_updated_notify
  after update on pgflow.runs
  referencing new table as changed
  for each statement
  when (case
    when pg_catalog.pg_try_advisory_lock(7342002) then not pg_catalog.pg_advisory_unlock(7342002)
    else true
  end)
  execute function pgflow._notify_run_change();

create or replace trigger step_states_updated_notify
  after update on pgflow.step_states
  referencing new table as changed
  for each statement
  when (case
    when pg_catalog.pg_try_advisory_lock(7342002) then not pg_catalog.pg_advisory_unlock(7342002)
    else true
  end)
  execute function pgflow._notify_run_change();
