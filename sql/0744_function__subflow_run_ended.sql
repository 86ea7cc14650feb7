-- _subflow_run_ended(run_id): what a run's end means for the runs around it. Called by
-- maybe_complete_run (a child completed), _fail_run and cancel_run. A failed or cancelled run
-- cancels its children that have not ended (cancel_run, so theirs go too, recursively): the
-- started ones and the queued ones (a child flow with a run concurrency limit queues the
-- children beyond it), the queued ones first, so that a slot a started child frees goes to
-- another run of the child flow rather than to a sibling about to be cancelled;
-- a child locked by another transaction at that moment is skipped rather than waited for
-- (parents never wait on children) and cancelled later by start_due_subflows. A child run
-- hands its outcome to its parent task (_settle_parent_task).
-- Internal; the caller holds the run's lock. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._subflow_run_ended(run_id uuid)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_run pgflow.runs;
  v_child uuid;
begin
  select * into v_run from pgflow.runs r where r.run_id = _subflow_run_ended.run_id;
  if v_run.status in ('failed', 'cancelled') then
    for v_child in
      select c.run_id from pgflow.runs c
      where c.parent_run_id = _subflow_run_ended.run_id and c.status in ('queued', 'started')
      order by c.status = 'started', c.run_id
      for no key update skip locked
    loop
      perform pgflow.cancel_run(v_child);
    end loop;
  end if;
  if v_run.parent_run_id is not null then
    perform pgflow._settle_parent_task(v_run.run_id);
  end if;
end;
$$;
