-- _start_children(run_ids, step_slugs, task_indexes, reuse): start the child runs of started
-- tasks of sub-flow steps (steps.child_flow_slug), the task named by the i-th element of each
-- array. A child gets its task's input (as a handler would: {"run": ..., "<dep>": ...} for a
-- single step, the element for a map task) and records the task as its parent
-- (runs.parent_run_id, parent_step_slug, parent_task_index). The children of one flow start
-- together, in one _start_runs call (one queue insert for all of them). With reuse (a step
-- started again by retry_run), a task takes up its latest child instead when it has one: a
-- failed or cancelled one is retried (retry_run keeps its completed steps), a completed one
-- gives its output at once, a running one is adopted. A child that ends within its own start
-- (every step skipped, an empty map) settles its task before this returns (_settle_parent_task);
-- a child queued behind its flow's run concurrency limit keeps its task started until it ends.
-- A task fails for good (error_type 'subflow_error', not retried) when its child flow does not
-- exist, when that flow maps over its input and the task's input is not an array, or when runs
-- would nest more than 32 deep (a flow that runs itself; children started within the same
-- statement, which do not know their parent yet, are counted by the transaction-local setting
-- pgflow.subflow_nesting). Tasks or runs no longer started are left alone.
-- Internal; the caller holds the parent runs' locks. Raises nothing of its own.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._start_children(
  run_ids uuid[],
  step_slugs text[],
  task_indexes int[],
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
  v_nested int := coalesce(nullif(current_setting('pgflow.subflow_nesting', true), ''), '0')::int;
  v_task record;
  v_child pgflow.runs;
  v_problem text;
  v_flow text;
  v_new record;
  v_ended uuid;
  v_ids uuid[] := '{}';
  v_flows text[] := '{}';
  v_inputs jsonb[] := '{}';
  v_parents uuid[] := '{}';
  v_slugs text[] := '{}';
  v_indexes int[] := '{}';
begin
  for v_task in
    select u.run_id, u.step_slug, u.task_index, s.child_flow_slug,
           case
             when s.step_type = 'map' and s.deps_count = 0 then r.input -> u.task_index
             when s.step_type = 'map' then (
               select ss.output -> u.task_index
               from pgflow.deps d
               join pgflow.step_states ss on ss.run_id = u.run_id and ss.step_slug = d.dep_slug
               where d.flow_slug = s.flow_slug and d.step_slug = s.step_slug
             )
             else jsonb_build_object('run', r.input) || coalesce(
               (
                 select jsonb_object_agg(d.dep_slug, ss.output)
                 from pgflow.deps d
                 join pgflow.step_states ss
                   on ss.run_id = u.run_id and ss.step_slug = d.dep_slug
                   and ss.status = 'completed'
                 where d.flow_slug = s.flow_slug and d.step_slug = s.step_slug
               ),
               '{}'::jsonb
             )
           end as input,
           (
             with recursive chain (run_id, depth) as (
               select u.run_id, 1
               union all
               select p.parent_run_id, c.depth + 1
               from chain c
               join pgflow.runs p on p.run_id = c.run_id
               where p.parent_run_id is not null and c.depth <= c_max_depth
             )
             select max(c.depth) from chain c
           ) + v_nested as depth
    from unnest(
      _start_children.run_ids, _start_children.step_slugs, _start_children.task_indexes
    ) with ordinality as u(run_id, step_slug, task_index, ord)
    join pgflow.runs r on r.run_id = u.run_id
    join pgflow.steps s on s.flow_slug = r.flow_slug and s.step_slug = u.step_slug
    order by u.ord
  loop
    -- the task may have ended meanwhile (an earlier task of this loop failed its run)
    continue when not exists (
      select 1 from pgflow.step_tasks t
      join pgflow.runs r on r.run_id = t.run_id and r.status = 'started'
      where t.run_id = v_task.run_id and t.step_slug = v_task.step_slug
        and t.task_index = v_task.task_index and t.status = 'started'
    );

    if _start_children.reuse then
      select * into v_child from pgflow.runs c
      where c.parent_run_id = v_task.run_id
        and c.parent_step_slug = v_task.step_slug
        and c.parent_task_index = v_task.task_index
      order by c.started_at desc, c.run_id desc
      limit 1
      for no key update;
      if found then
        if v_child.status in ('failed', 'cancelled') then
          perform pgflow.retry_run(v_child.run_id);
        end if;
        perform pgflow._settle_parent_task(v_child.run_id);
        continue;
      end if;
    end if;

    v_problem := null;
    if not exists (select 1 from pgflow.flows f where f.flow_slug = v_task.child_flow_slug) then
      v_problem := format(
        'Sub-flow step "%s" runs flow "%s", which does not exist', v_task.step_slug,
        v_task.child_flow_slug
      );
    elsif v_task.depth > c_max_depth then
      v_problem := format(
        'Sub-flow step "%s" would nest runs more than %s deep (does flow "%s" run itself?)',
        v_task.step_slug, c_max_depth, v_task.child_flow_slug
      );
    elsif jsonb_typeof(v_task.input) is distinct from 'array' and exists (
      select 1 from pgflow.steps s
      where s.flow_slug = v_task.child_flow_slug and s.step_type = 'map' and s.deps_count = 0
    ) then
      v_problem := format(
        'Flow "%s" maps over its input, but sub-flow step "%s" gives it %s, not an array',
        v_task.child_flow_slug, v_task.step_slug, coalesce(jsonb_typeof(v_task.input), 'null')
      );
    end if;
    if v_problem is not null then
      perform pgflow._fail_task(
        v_task.run_id, v_task.step_slug, v_task.task_index, v_problem,
        null, 'subflow_error', false
      );
      continue;
    end if;

    v_ids := v_ids || pgflow._time_ordered_uuid();
    v_flows := v_flows || v_task.child_flow_slug;
    v_inputs := v_inputs || v_task.input;
    v_parents := v_parents || v_task.run_id;
    v_slugs := v_slugs || v_task.step_slug;
    v_indexes := v_indexes || v_task.task_index;
  end loop;

  if cardinality(v_ids) = 0 then
    return;
  end if;

  perform set_config('pgflow.subflow_nesting', (v_nested + 1)::text, true);
  for v_flow in select distinct f from unnest(v_flows) as f order by 1 loop
    -- only the tasks still started: a failure above may have ended a parent run
    select coalesce(array_agg(n.id order by n.ord), '{}') as ids,
           coalesce(array_agg(n.input order by n.ord), '{}') as inputs
    into v_new
    from unnest(v_ids, v_flows, v_inputs, v_parents, v_slugs, v_indexes)
      with ordinality as n(id, flow, input, parent, slug, idx, ord)
    where n.flow = v_flow
      and exists (
        select 1 from pgflow.step_tasks t
        join pgflow.runs r on r.run_id = t.run_id and r.status = 'started'
        where t.run_id = n.parent and t.step_slug = n.slug and t.task_index = n.idx
          and t.status = 'started'
      );
    if cardinality(v_new.ids) > 0 then
      perform pgflow._start_runs(v_flow, v_new.inputs, v_new.ids);
    end if;
  end loop;
  perform set_config('pgflow.subflow_nesting', v_nested::text, true);

  update pgflow.runs c
  set parent_run_id = n.parent, parent_step_slug = n.slug, parent_task_index = n.idx
  from unnest(v_ids, v_parents, v_slugs, v_indexes) as n(id, parent, slug, idx)
  where c.run_id = n.id;

  -- children that ended within their own start (before they knew their parent) settle now;
  -- a child queued behind its flow's concurrency limit has not ended: it settles when it does
  for v_ended in
    select c.run_id from pgflow.runs c
    where c.run_id = any(v_ids) and c.status not in ('started', 'queued')
    order by c.run_id
  loop
    perform pgflow._settle_parent_task(v_ended);
  end loop;
end;
$$;
