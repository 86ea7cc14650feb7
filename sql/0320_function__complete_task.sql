-- _complete_task(run_id, step_slug, task_index, output, attempt, start_seq): record a started
-- task's output and advance the run: the step completes when its last task does (a map step's
-- output is its tasks' outputs in task order), children count down, ready steps start, the run
-- completes. A call for a task that is not started, of a run that is not started, or (when
-- given) for another attempt or start_seq than the task's current one changes nothing. A single step whose
-- map child needs an array and that produced something else fails the run ([TYPE_VIOLATION]).
-- Internal: locks the run row first (the lock order of every writer of a run).
-- Returns the task row, or nothing for an unknown task. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._complete_task(
  run_id uuid,
  step_slug text,
  task_index int,
  output jsonb,
  attempt int default null,
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
  v_step_type text;
  v_map_child text;
  v_remaining int;
  v_step_output jsonb;
begin
  select r.status into v_run_status
  from pgflow.runs r where r.run_id = _complete_task.run_id
  for no key update;

  -- no row lock needed: every writer of a started task holds the run lock (claims only touch
  -- queued tasks)
  select * into v_task from pgflow.step_tasks t
  where t.run_id = _complete_task.run_id
    and t.step_slug = _complete_task.step_slug
    and t.task_index = _complete_task.task_index;
  if not found then
    return;
  end if;

  if v_run_status is distinct from 'started'
    or v_task.status <> 'started'
    or (_complete_task.attempt is not null and _complete_task.attempt <> v_task.attempts_count)
    or (
      _complete_task.start_seq is not null
      and _complete_task.start_seq is distinct from v_task.start_seq
    )
  then
    return next v_task;
    return;
  end if;

  select s.step_type,
         case when s.step_type = 'single' then (
           select d.step_slug
           from pgflow.deps d
           join pgflow.steps c on c.flow_slug = d.flow_slug and c.step_slug = d.step_slug
           where d.flow_slug = s.flow_slug and d.dep_slug = s.step_slug and c.step_type = 'map'
           order by c.step_index
           limit 1
         ) end
  into v_step_type, v_map_child
  from pgflow.steps s
  where s.flow_slug = v_task.flow_slug and s.step_slug = v_task.step_slug;

  if jsonb_typeof(_complete_task.output) is distinct from 'array' then
    if v_map_child is not null then
      update pgflow.step_tasks t
      set status = 'failed',
          output = _complete_task.output,
          error_message = format(
            '[TYPE_VIOLATION] Produced %s instead of array',
            coalesce(jsonb_typeof(_complete_task.output), 'null')
          ),
          error_type = 'type_violation',
          failed_at = clock_timestamp()
      where t.run_id = v_task.run_id and t.step_slug = v_task.step_slug
        and t.task_index = v_task.task_index
      returning * into v_task;
      perform pgmq.archive(v_task.flow_slug, v_task.message_id);
      perform pgflow._fail_run(
        v_task.run_id,
        v_task.step_slug,
        format(
          '[TYPE_VIOLATION] Map step %s expects array input but dependency %s produced %s',
          v_map_child, v_task.step_slug, coalesce(jsonb_typeof(_complete_task.output), 'null')
        )
      );
      return next v_task;
      return;
    end if;
  end if;

  update pgflow.step_tasks t
  set status = 'completed',
      output = _complete_task.output,
      completed_at = clock_timestamp()
  where t.run_id = v_task.run_id and t.step_slug = v_task.step_slug
    and t.task_index = v_task.task_index
  returning * into v_task;
  perform pgmq.archive(v_task.flow_slug, v_task.message_id);

  if v_step_type = 'single' then
    -- a single step has one task: it completes with it
    perform pgflow._complete_step(v_task.run_id, v_task.step_slug, _complete_task.output);
    perform pgflow._advance_run(v_task.run_id);
  else
    update pgflow.step_states ss
    set remaining_tasks = ss.remaining_tasks - 1
    where ss.run_id = v_task.run_id and ss.step_slug = v_task.step_slug and ss.status = 'started'
    returning ss.remaining_tasks into v_remaining;

    if v_remaining = 0 then
      select jsonb_agg(t.output order by t.task_index) into v_step_output
      from pgflow.step_tasks t
      where t.run_id = v_task.run_id and t.step_slug = v_task.step_slug;
      perform pgflow._complete_step(v_task.run_id, v_task.step_slug, v_step_output);
      perform pgflow._advance_run(v_task.run_id);
    end if;
  end if;

  return next v_task;
end;
$$;
