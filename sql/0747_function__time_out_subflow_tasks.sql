-- _time_out_subflow_tasks(): end the sub-flow tasks that outlast their step's own timeout. A
-- sub-flow step with a timeout of its own (steps.opt_timeout; the flow's timeout, a handler
-- task's default, does not apply to sub-flow steps) gives each attempt of each of its tasks
-- that many seconds from the attempt's start (step_tasks.started_at; time its child waits
-- queued behind the child flow's run concurrency limit counts). A task still started after
-- that fails its attempt (_fail_subflow_task: error_type 'child_run_timeout', message 'Child
-- run <id> of flow "<slug>" timed out after <N> s'), so it retries with a new child run per
-- the step's max_attempts, or its when_exhausted applies; then its current child run (the
-- latest, when it has not ended) is cancelled with its own children. Locks go upwards, as a
-- child's report does: the child run first, never waited for (a child another transaction
-- holds leaves its task to the next call), then the parent run; the task is checked again
-- under the locks. At most 1000 tasks per call, the oldest starts first. Internal: the
-- workers' periodic maintenance calls it through start_due_subflows. Returns the number of
-- tasks timed out. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._time_out_subflow_tasks()
returns int
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_due record;
  v_child pgflow.runs;
  v_task pgflow.step_tasks;
  v_count int := 0;
begin
  for v_due in
    select t.run_id, t.step_slug, t.task_index, s.opt_timeout, s.child_flow_slug
    from pgflow.steps s
    join pgflow.step_tasks t on t.flow_slug = s.flow_slug and t.step_slug = s.step_slug
    where s.child_flow_slug is not null and s.opt_timeout is not null
      and t.status = 'started'
      and t.started_at < clock_timestamp() - make_interval(secs => s.opt_timeout)
    order by t.started_at, t.run_id, t.step_slug, t.task_index
    limit 1000
  loop
    v_child := null;
    select * into v_child from pgflow.runs c
    where c.parent_run_id = v_due.run_id
      and c.parent_step_slug = v_due.step_slug
      and c.parent_task_index = v_due.task_index
    order by c.started_at desc, c.run_id desc
    limit 1;
    if v_child.run_id is not null then
      select c.status into v_child.status from pgflow.runs c where c.run_id = v_child.run_id
      for no key update skip locked;
      continue when not found
        and exists (select 1 from pgflow.runs c where c.run_id = v_child.run_id);
    end if;

    perform 1 from pgflow.runs r where r.run_id = v_due.run_id and r.status = 'started'
    for no key update;
    continue when not found;
    -- under the locks: the same attempt, still started and over its time (a retry since then
    -- started a new attempt, with a new child, later)
    select * into v_task from pgflow.step_tasks t
    where t.run_id = v_due.run_id and t.step_slug = v_due.step_slug
      and t.task_index = v_due.task_index
      and t.status = 'started'
      and t.started_at < clock_timestamp() - make_interval(secs => v_due.opt_timeout);
    continue when not found;

    perform pgflow._fail_subflow_task(
      v_task,
      format(
        'Child run %s of flow "%s" timed out after %s s',
        coalesce(v_child.run_id::text, '(none)'), v_due.child_flow_slug, v_due.opt_timeout
      ),
      'child_run_timeout'
    );
    -- the task no longer waits for it, so its end settles nothing (_settle_parent_task)
    if v_child.status in ('started', 'queued') then  -- (a child deleted meanwhile: none)
      perform pgflow.cancel_run(v_child.run_id);
    end if;
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;
