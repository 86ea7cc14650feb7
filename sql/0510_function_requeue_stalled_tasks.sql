-- requeue_stalled_tasks(): recover tasks whose worker died. A task counts as stalled once it has
-- been 'started' for longer than its own step's timeout + 5 s (its message reappears at + 2 s;
-- the extra seconds let a worker that enforced the timeout report first). The stalled start
-- counts as an attempt: with attempts left (attempts_count - released_count < max_attempts) and
-- fewer than 3 requeues so far, the task goes back to 'queued' with its message visible now
-- (NOTIFY pgflow_tasks); otherwise it fails for good (error_type 'stalled', not retried, message
-- '[STALLED] worker lost N time(s); max_attempts M exhausted', or after a 4th stall with attempts
-- left '[STALLED] Task stalled 4 times (worker lost or over its timeout)') and its step's
-- when_exhausted applies, so a run never hangs in 'started'. Any worker may call it; no pg_cron.
-- Then starts any queued run that a free concurrency slot is waiting for
-- (_admit_all_queued_runs). Returns the number of stalled tasks handled (requeued or failed).
-- Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.requeue_stalled_tasks()
returns int
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
set enable_seqscan to off
set jit to off
as $$
#variable_conflict use_column
declare
  c_max_requeues constant int := 3;
  c_grace_seconds constant int := 5;
  v_task record;
  v_handled int := 0;
  v_message text;
begin
  for v_task in
    select t.run_id, t.step_slug, t.task_index
    from pgflow.step_tasks t
    join pgflow.steps s on s.flow_slug = t.flow_slug and s.step_slug = t.step_slug
    join pgflow.flows f on f.flow_slug = t.flow_slug
    where t.status = 'started'
      and s.child_flow_slug is null  -- a sub-flow task runs no handler: it cannot stall
      and t.started_at < clock_timestamp()
        - make_interval(secs => coalesce(s.opt_timeout, f.opt_timeout) + c_grace_seconds)
    order by t.run_id, t.step_slug, t.task_index
  loop
    -- the run lock first, as every writer of a run; then re-check under the lock
    perform 1 from pgflow.runs r where r.run_id = v_task.run_id and r.status = 'started'
    for no key update;
    continue when not found;

    with stalled as (
      select t.run_id, t.step_slug, t.task_index, t.requeued_count, t.attempts_count,
             t.released_count, t.start_seq, t.flow_slug, t.message_id,
             coalesce(s.opt_max_attempts, f.opt_max_attempts) as max_attempts
      from pgflow.step_tasks t
      join pgflow.steps s on s.flow_slug = t.flow_slug and s.step_slug = t.step_slug
      join pgflow.flows f on f.flow_slug = t.flow_slug
      where t.run_id = v_task.run_id and t.step_slug = v_task.step_slug
        and t.task_index = v_task.task_index
        and t.status = 'started'
        and t.started_at < clock_timestamp()
          - make_interval(secs => coalesce(s.opt_timeout, f.opt_timeout) + c_grace_seconds)
      for update of t
    )
    select * into v_task from stalled;
    continue when not found;

    v_handled := v_handled + 1;
    if v_task.attempts_count - v_task.released_count >= v_task.max_attempts then
      v_message := format(
        '[STALLED] worker lost %s %s; max_attempts %s exhausted',
        v_task.requeued_count + 1,
        case when v_task.requeued_count = 0 then 'time' else 'times' end,
        v_task.max_attempts
      );
    elsif v_task.requeued_count >= c_max_requeues then
      v_message := format(
        '[STALLED] Task stalled %s times (worker lost or over its timeout)',
        v_task.requeued_count + 1
      );
    else
      v_message := null;
    end if;

    if v_message is null then
      update pgflow.step_tasks t
      set status = 'queued',
          started_at = null,
          last_worker_id = null,
          requeued_count = t.requeued_count + 1,
          last_requeued_at = clock_timestamp()
      where t.run_id = v_task.run_id and t.step_slug = v_task.step_slug
        and t.task_index = v_task.task_index;
      perform pgmq.set_vt(v_task.flow_slug, v_task.message_id, 0);
      perform pg_notify('pgflow_tasks', v_task.flow_slug);
    else
      update pgflow.step_tasks t
      set permanently_stalled_at = clock_timestamp()
      where t.run_id = v_task.run_id and t.step_slug = v_task.step_slug
        and t.task_index = v_task.task_index;
      perform pgflow._fail_task(
        v_task.run_id,
        v_task.step_slug,
        v_task.task_index,
        v_message,
        v_task.attempts_count,
        'stalled',
        false,
        null,
        v_task.start_seq
      );
    end if;
  end loop;
  perform pgflow._admit_all_queued_runs();  -- flow concurrency: the safety net
  return v_handled;
end;
$$;
