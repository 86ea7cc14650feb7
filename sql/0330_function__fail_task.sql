-- _fail_task(run_id, step_slug, task_index, error_message, attempt, error_type, retryable,
-- error_traceback, start_seq): record a started task's failure. With attempts left (and retryable) the task
-- goes back to 'queued' and its message reappears after calculate_retry_delay(base_delay,
-- attempts) seconds (attempts: attempts_count - released_count, the starts that count);
-- otherwise the task fails and its step's when_exhausted applies: 'fail' fails the step and the
-- run (open tasks cancelled), 'skip' skips the step (its children run without it),
-- 'skip-cascade' skips it and everything downstream. Late, duplicate and fenced calls change
-- nothing (attempt and start_seq, when given, must be the task's current ones), except that the
-- failure of a start cancelled with its run (same start_seq) is kept on the cancelled task: its
-- error message, type and traceback. Internal: locks the run row first.
-- Returns the task row, or nothing for an unknown task. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._fail_task(
  run_id uuid,
  step_slug text,
  task_index int,
  error_message text,
  attempt int default null,
  error_type text default null,
  retryable boolean default true,
  error_traceback text default null,
  start_seq bigint default null
)
returns setof pgflow.step_tasks
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_run_status text;
  v_task pgflow.step_tasks;
  v_max_attempts int;
  v_base_delay int;
  v_when_exhausted text;
  v_delay int;
begin
  select r.status into v_run_status
  from pgflow.runs r where r.run_id = _fail_task.run_id
  for no key update;

  -- no row lock needed: every writer of a started task holds the run lock (claims only touch
  -- queued tasks)
  select * into v_task from pgflow.step_tasks t
  where t.run_id = _fail_task.run_id
    and t.step_slug = _fail_task.step_slug
    and t.task_index = _fail_task.task_index;
  if not found then
    return;
  end if;

  -- the failure of a start that its run's end cancelled: kept on the task (still 'cancelled'),
  -- so that the run shows it; only a report fenced by start_seq names that start for sure
  if v_task.status = 'cancelled'
    and _fail_task.start_seq is not null
    and _fail_task.start_seq = v_task.start_seq
    and (_fail_task.attempt is null or _fail_task.attempt = v_task.attempts_count)
  then
    update pgflow.step_tasks t
    set error_message = _fail_task.error_message,
        error_type = _fail_task.error_type,
        error_traceback = _fail_task.error_traceback
    where t.run_id = v_task.run_id and t.step_slug = v_task.step_slug
      and t.task_index = v_task.task_index
    returning * into v_task;
    return next v_task;
    return;
  end if;

  if v_run_status is distinct from 'started'
    or v_task.status <> 'started'
    or (_fail_task.attempt is not null and _fail_task.attempt <> v_task.attempts_count)
    or (_fail_task.start_seq is not null and _fail_task.start_seq is distinct from v_task.start_seq)
  then
    return next v_task;
    return;
  end if;

  select coalesce(s.opt_max_attempts, f.opt_max_attempts),
         coalesce(s.opt_base_delay, f.opt_base_delay),
         s.when_exhausted
  into v_max_attempts, v_base_delay, v_when_exhausted
  from pgflow.steps s
  join pgflow.flows f on f.flow_slug = s.flow_slug
  where s.flow_slug = v_task.flow_slug and s.step_slug = v_task.step_slug;

  if coalesce(_fail_task.retryable, true)
    and v_task.attempts_count - v_task.released_count < v_max_attempts
  then
    update pgflow.step_tasks t
    set status = 'queued',
        started_at = null,
        error_message = _fail_task.error_message,
        error_type = _fail_task.error_type,
        error_traceback = _fail_task.error_traceback
    where t.run_id = v_task.run_id and t.step_slug = v_task.step_slug
      and t.task_index = v_task.task_index
    returning * into v_task;
    v_delay := pgflow.calculate_retry_delay(
      v_base_delay, v_task.attempts_count - v_task.released_count
    );
    perform pgmq.set_vt(v_task.flow_slug, v_task.message_id, v_delay);
    if v_delay = 0 then
      perform pg_notify('pgflow_tasks', v_task.flow_slug);
    end if;
    return next v_task;
    return;
  end if;

  update pgflow.step_tasks t
  set status = 'failed',
      failed_at = clock_timestamp(),
      error_message = _fail_task.error_message,
      error_type = _fail_task.error_type,
      error_traceback = _fail_task.error_traceback
  where t.run_id = v_task.run_id and t.step_slug = v_task.step_slug
    and t.task_index = v_task.task_index
  returning * into v_task;
  perform pgmq.archive(v_task.flow_slug, v_task.message_id);

  if v_when_exhausted = 'fail' then
    perform pgflow._fail_run(v_task.run_id, v_task.step_slug, _fail_task.error_message);
  else
    update pgflow.step_states ss
    set error_message = _fail_task.error_message
    where ss.run_id = v_task.run_id and ss.step_slug = v_task.step_slug;
    perform pgflow._skip_steps(
      v_task.run_id, v_task.step_slug, 'handler_failed', v_when_exhausted = 'skip-cascade'
    );
    perform pgflow._advance_run(v_task.run_id);
  end if;

  return next v_task;
end;
$$;
