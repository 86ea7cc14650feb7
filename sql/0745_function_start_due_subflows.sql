-- start_due_subflows(): the sub-flow half of the workers' periodic maintenance (no pg_cron).
-- First the sub-flow tasks over their step's own timeout fail their attempt and their child
-- runs are cancelled (_time_out_subflow_tasks). Then, for every sub-flow task whose retry delay is over (pgflow.subflow_retries, due_at passed;
-- at most 1000 per call, oldest first) the task starts again (attempts_count + 1, a new
-- start_seq) and starts a new child run (_start_children); rows of runs no longer started or of
-- tasks no longer queued are dropped. Then every child run not ended (started or queued, the
-- queued ones first) whose parent run failed or was cancelled is cancelled (the ones the
-- parent's end skipped because another transaction held them). Each row is taken under its run's lock, so concurrent callers never
-- start a task twice. Returns the number of tasks timed out, tasks started and children
-- cancelled.
-- Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.start_due_subflows()
returns int
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_due record;
  v_task pgflow.step_tasks;
  v_orphan uuid;
  v_count int;
begin
  v_count := pgflow._time_out_subflow_tasks();
  for v_due in
    select d.run_id, d.step_slug, d.task_index
    from pgflow.subflow_retries d
    where d.due_at <= clock_timestamp()
    order by d.due_at, d.run_id, d.step_slug, d.task_index
    limit 1000
  loop
    perform 1 from pgflow.runs r where r.run_id = v_due.run_id for no key update;
    delete from pgflow.subflow_retries d
    where d.run_id = v_due.run_id and d.step_slug = v_due.step_slug
      and d.task_index = v_due.task_index;
    continue when not found;  -- another caller took it

    update pgflow.step_tasks t
    set status = 'started',
        attempts_count = t.attempts_count + 1,
        start_seq = nextval('pgflow.task_start_seq'),
        started_at = clock_timestamp()
    where t.run_id = v_due.run_id and t.step_slug = v_due.step_slug
      and t.task_index = v_due.task_index
      and t.status = 'queued'
      and exists (select 1 from pgflow.runs r where r.run_id = t.run_id and r.status = 'started')
    returning * into v_task;
    continue when not found;

    perform pgflow._start_children(
      array[v_task.run_id], array[v_task.step_slug], array[v_task.task_index], false
    );
    v_count := v_count + 1;
  end loop;

  for v_orphan in
    select c.run_id
    from pgflow.runs c
    join pgflow.runs p on p.run_id = c.parent_run_id
    where c.parent_run_id is not null and c.status in ('queued', 'started')
      and p.status in ('failed', 'cancelled')
    order by c.status = 'started', c.run_id
    for no key update of c skip locked
  loop
    perform pgflow.cancel_run(v_orphan);
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;
