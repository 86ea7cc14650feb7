-- _start_child(run_id, step_slug, task_index, reuse): start the child run of a started task of a
-- sub-flow step (steps.child_flow_slug). The child gets the task's input (as a handler would:
-- {"run": ..., "<dep>": ...} for a single step, the element for a map task) and records the
-- task as its parent (runs.parent_run_id, parent_step_slug, parent_task_index). With reuse (a
-- step started again by retry_run), the task's latest child is used instead when there is one:
-- a failed or cancelled one is retried (retry_run keeps its completed steps), a completed one
-- gives its output at once, a running one is adopted. A child that ends at once (every step
-- skipped, an empty map) settles the task before this returns (_settle_parent_task).
-- The task fails for good (error_type 'subflow_error', not retried) when the child flow does not
-- exist, when it maps over its input and the task's input is not an array, or when runs are
-- nested more than 32 deep (a flow that runs itself; children started within the same
-- statement, which do not know their parent yet, are counted by the transaction-local setting
-- pgflow.subflow_nesting).
-- Internal; the caller holds the parent run's lock. Raises nothing of its own.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._start_child(
  run_id uuid,
  step_slug text,
  task_index int,
  reuse boolean default false
)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  c_max_depth constant int := 32;
  v_step pgflow.steps;
  v_input jsonb;
  v_child pgflow.runs;
  v_child_id uuid;
  v_depth int;
  v_problem text;
  v_nested int;
begin
  -- the task may have ended meanwhile (its run failed while earlier tasks started their children)
  if not exists (
    select 1 from pgflow.step_tasks t
    join pgflow.runs r on r.run_id = t.run_id and r.status = 'started'
    where t.run_id = _start_child.run_id and t.step_slug = _start_child.step_slug
      and t.task_index = _start_child.task_index and t.status = 'started'
  ) then
    return;
  end if;

  select s.* into v_step
  from pgflow.runs r
  join pgflow.steps s on s.flow_slug = r.flow_slug and s.step_slug = _start_child.step_slug
  where r.run_id = _start_child.run_id;

  if reuse then
    select * into v_child from pgflow.runs c
    where c.parent_run_id = _start_child.run_id
      and c.parent_step_slug = _start_child.step_slug
      and c.parent_task_index = _start_child.task_index
    order by c.started_at desc, c.run_id desc
    limit 1
    for no key update;
    if found then
      if v_child.status in ('failed', 'cancelled') then
        perform pgflow.retry_run(v_child.run_id);
      end if;
      perform pgflow._settle_parent_task(v_child.run_id);
      return;
    end if;
  end if;

  if v_step.step_type = 'map' and v_step.deps_count = 0 then
    select r.input -> _start_child.task_index into v_input
    from pgflow.runs r where r.run_id = _start_child.run_id;
  elsif v_step.step_type = 'map' then
    select ss.output -> _start_child.task_index into v_input
    from pgflow.deps d
    join pgflow.step_states ss on ss.run_id = _start_child.run_id and ss.step_slug = d.dep_slug
    where d.flow_slug = v_step.flow_slug and d.step_slug = v_step.step_slug;
  else
    select jsonb_build_object('run', r.input) || coalesce(
      (
        select jsonb_object_agg(d.dep_slug, ss.output)
        from pgflow.deps d
        join pgflow.step_states ss
          on ss.run_id = r.run_id and ss.step_slug = d.dep_slug and ss.status = 'completed'
        where d.flow_slug = v_step.flow_slug and d.step_slug = v_step.step_slug
      ),
      '{}'::jsonb
    )
    into v_input
    from pgflow.runs r where r.run_id = _start_child.run_id;
  end if;

  with recursive chain (run_id, depth) as (
    select _start_child.run_id, 1
    union all
    select r.parent_run_id, c.depth + 1
    from chain c
    join pgflow.runs r on r.run_id = c.run_id
    where r.parent_run_id is not null and c.depth <= c_max_depth
  )
  select max(c.depth) into v_depth from chain c;
  -- children started within this statement do not know their parent yet: count those too
  v_nested := coalesce(nullif(current_setting('pgflow.subflow_nesting', true), ''), '0')::int;
  v_depth := v_depth + v_nested;

  if not exists (select 1 from pgflow.flows f where f.flow_slug = v_step.child_flow_slug) then
    v_problem := format(
      'Sub-flow step "%s" runs flow "%s", which does not exist', v_step.step_slug,
      v_step.child_flow_slug
    );
  elsif v_depth > c_max_depth then
    v_problem := format(
      'Sub-flow step "%s" would nest runs more than %s deep (does flow "%s" run itself?)',
      v_step.step_slug, c_max_depth, v_step.child_flow_slug
    );
  elsif jsonb_typeof(v_input) is distinct from 'array' and exists (
    select 1 from pgflow.steps s
    where s.flow_slug = v_step.child_flow_slug and s.step_type = 'map' and s.deps_count = 0
  ) then
    v_problem := format(
      'Flow "%s" maps over its input, but sub-flow step "%s" gives it %s, not an array',
      v_step.child_flow_slug, v_step.step_slug, coalesce(jsonb_typeof(v_input), 'null')
    );
  end if;

  if v_problem is not null then
    perform pgflow._fail_task(
      _start_child.run_id, _start_child.step_slug, _start_child.task_index, v_problem,
      null, 'subflow_error', false
    );
    return;
  end if;

  v_child_id := pgflow._time_ordered_uuid();
  perform set_config('pgflow.subflow_nesting', (v_nested + 1)::text, true);
  perform pgflow._start_runs(v_step.child_flow_slug, array[v_input], array[v_child_id]);
  perform set_config('pgflow.subflow_nesting', v_nested::text, true);
  update pgflow.runs c
  set parent_run_id = _start_child.run_id,
      parent_step_slug = _start_child.step_slug,
      parent_task_index = _start_child.task_index
  where c.run_id = v_child_id;
  -- a child that ended within its own start (before it knew its parent) settles the task now
  perform pgflow._settle_parent_task(v_child_id);
end;
$$;
