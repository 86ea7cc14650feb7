-- _settle_parent_task(child_run_id): hand an ended child run's outcome to its parent task. The
-- parent run is locked first (a child always locks upwards, so children and parents never wait
-- on each other in a circle); nothing changes unless the child ended (a child queued behind
-- its flow's run concurrency limit has not), the parent run is started, the task is
-- started and the child is the task's latest child (an older child ending late speaks for no
-- one). A completed child completes the task with the child's output, through _complete_task
-- (dependents start, a map step collects its children's outputs in task order); a failed or
-- cancelled child fails the task through _fail_subflow_task (error_type 'child_run_failed' /
-- 'child_run_cancelled', the child's error in the message), so the step's max_attempts and
-- when_exhausted apply: with attempts left the task goes back to 'queued' and
-- start_due_subflows starts a new child run for it after its retry delay.
-- Internal. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._settle_parent_task(child_run_id uuid)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_child pgflow.runs;
  v_parent_status text;
  v_task pgflow.step_tasks;
  v_latest uuid;
  v_error text;
begin
  select * into v_child from pgflow.runs c where c.run_id = _settle_parent_task.child_run_id;
  if v_child.parent_run_id is null or v_child.status in ('started', 'queued') then
    return;
  end if;

  select r.status into v_parent_status
  from pgflow.runs r where r.run_id = v_child.parent_run_id
  for no key update;
  if v_parent_status is distinct from 'started' then
    return;
  end if;

  select * into v_task from pgflow.step_tasks t
  where t.run_id = v_child.parent_run_id
    and t.step_slug = v_child.parent_step_slug
    and t.task_index = v_child.parent_task_index;
  if not found or v_task.status <> 'started' then
    return;
  end if;

  select c.run_id into v_latest from pgflow.runs c
  where c.parent_run_id = v_child.parent_run_id
    and c.parent_step_slug = v_child.parent_step_slug
    and c.parent_task_index = v_child.parent_task_index
  order by c.started_at desc, c.run_id desc
  limit 1;
  if v_latest is distinct from v_child.run_id then
    return;
  end if;

  if v_child.status = 'completed' then
    perform pgflow._complete_task(
      v_task.run_id, v_task.step_slug, v_task.task_index,
      coalesce(v_child.output, 'null'::jsonb), null, v_task.start_seq
    );
    return;
  end if;

  select ss.error_message into v_error
  from pgflow.step_states ss
  where ss.run_id = v_child.run_id and ss.status = 'failed'
  order by ss.failed_at
  limit 1;

  perform pgflow._fail_subflow_task(
    v_task,
    format(
      'Child run %s of flow "%s" %s%s', v_child.run_id, v_child.flow_slug, v_child.status,
      coalesce(': ' || v_error, '')
    ),
    'child_run_' || v_child.status
  );
end;
$$;
