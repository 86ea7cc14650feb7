-- complete_tasks(results): complete_task for a batch in one transaction; results is a JSON
-- array of {"run_id", "step_slug", "task_index", "output", "start_seq", "attempt"} (the fences
-- "start_seq" and "attempt" optional, as in complete_task; a missing "output" is JSON null). Runs are locked in run_id order first.
-- Set-based: the batch's started tasks are completed with one statement, their steps count down
-- (and complete) with one, the children of the completed steps with one, the runs with one;
-- conditions and taskless cascades are resolved per run that completed a step and has a ready
-- step needing that (the others are completed when no step is left); the batch's
-- messages are archived with one pgmq call per flow and the steps it made ready start
-- together (one queue insert per flow). The outcome is that of completing the
-- items one by one, except that every task of the batch is recorded before conditions are
-- resolved (the order inside a batch is arbitrary anyway): a when_unmet 'fail' then fails a run
-- whose other tasks of the batch are completed, not cancelled, and a step that a condition skips
-- still counts down the parents completed in the same batch (remaining_deps of a skipped step).
-- Items that would not complete a started task (late, duplicate, fenced) and every item of a run
-- with a [TYPE_VIOLATION] go through complete_task's own path one by one, after the rest, in
-- batch order, with exactly its outcome; an item naming a task that did not exist when the batch
-- began returns nothing (even if the batch creates that task).
-- A batch of one item takes complete_task's path (_complete_task): the same outcome, in fewer
-- statements. Generic plans (plan_cache_mode): with array arguments PostgreSQL re-planned
-- several statements on every call, a fifth of a one-task call's server time.
-- Returns the task rows, in batch order. Raises: 'complete_tasks expects a JSON array, got %';
-- 'complete_tasks item % lacks "%"'.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.complete_tasks(results jsonb)
returns setof pgflow.step_tasks
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan to off
set jit to off
set plan_cache_mode to force_generic_plan
as $$
#variable_conflict use_column
declare
  v_done pgflow.step_tasks[];
  v_done_ord bigint[];
  v_unknown_ord bigint[];
  v_rows pgflow.step_tasks[] := '{}';
  v_rows_ord bigint[] := '{}';
  v_item record;
  v_task pgflow.step_tasks;
  v_run_ids uuid[];
  v_finished_runs uuid[];
  v_ending_runs uuid[];
  v_advance_runs uuid[];
  v_run_id uuid;
  v_archive record;
begin
  perform pgflow._check_task_batch(complete_tasks.results, 'complete_tasks');

  -- one item (an idle worker's report): complete_task's own path is the same outcome (that of
  -- completing the items one by one) in fewer statements than the set-based path below
  if jsonb_array_length(complete_tasks.results) = 1 then
    return query select * from pgflow._complete_task(
      (complete_tasks.results -> 0 ->> 'run_id')::uuid,
      complete_tasks.results -> 0 ->> 'step_slug',
      (complete_tasks.results -> 0 ->> 'task_index')::int,
      coalesce(complete_tasks.results -> 0 -> 'output', 'null'::jsonb),
      (complete_tasks.results -> 0 ->> 'attempt')::int,
      (complete_tasks.results -> 0 ->> 'start_seq')::bigint
    );
    return;
  end if;

  -- the batch's runs in the order they first appear (new tasks are sent in that order)
  v_run_ids := array(
    select e.run_id
    from (
      select (e.v ->> 'run_id')::uuid as run_id, e.ord
      from jsonb_array_elements(complete_tasks.results) with ordinality as e(v, ord)
    ) e
    group by e.run_id
    order by min(e.ord)
  );
  perform pgflow._lock_runs(v_run_ids);

  -- items naming a task that does not exist (yet): they will return nothing (a scalar
  -- subquery, looked up by primary key per item: an anti-join would read all of step_tasks)
  v_unknown_ord := array(
    select e.ord
    from jsonb_array_elements(complete_tasks.results) with ordinality as e(v, ord)
    where (
      select t.task_index from pgflow.step_tasks t
      where t.run_id = (e.v ->> 'run_id')::uuid and t.step_slug = e.v ->> 'step_slug'
        and t.task_index = (e.v ->> 'task_index')::int
    ) is null
  );

  -- 1. the started tasks this batch completes: the first report of each task, with its current
  --    attempt (or none), of a started run, and not a [TYPE_VIOLATION] anywhere in that run
  with items as (
    select e.ord,
           (e.v ->> 'run_id')::uuid as run_id,
           e.v ->> 'step_slug' as step_slug,
           (e.v ->> 'task_index')::int as task_index,
           coalesce(e.v -> 'output', 'null'::jsonb) as output,
           (e.v ->> 'attempt')::int as attempt,
           (e.v ->> 'start_seq')::bigint as start_seq
    from jsonb_array_elements(complete_tasks.results) with ordinality as e(v, ord)
  ),
  firsts as (
    select distinct on (i.run_id, i.step_slug, i.task_index) i.*
    from items i
    order by i.run_id, i.step_slug, i.task_index, i.ord
  ),
  candidates as (
    select f.*,
           s.step_type = 'single' and jsonb_typeof(f.output) is distinct from 'array'
             and exists (
               select 1 from pgflow.deps d
               join pgflow.steps c on c.flow_slug = d.flow_slug and c.step_slug = d.step_slug
               where d.flow_slug = s.flow_slug and d.dep_slug = s.step_slug
                 and c.step_type = 'map'
             ) as violates
    from firsts f
    join pgflow.step_tasks t
      on t.run_id = f.run_id and t.step_slug = f.step_slug and t.task_index = f.task_index
    join pgflow.runs r on r.run_id = f.run_id
    join pgflow.steps s on s.flow_slug = t.flow_slug and s.step_slug = t.step_slug
    where t.status = 'started'
      and r.status = 'started'
      and (f.attempt is null or f.attempt = t.attempts_count)
      and (f.start_seq is null or f.start_seq = t.start_seq)
  ),
  fast as (
    select c.* from candidates c
    where not exists (select 1 from candidates v where v.run_id = c.run_id and v.violates)
  ),
  completed as (
    update pgflow.step_tasks t
    set status = 'completed',
        output = f.output,
        completed_at = clock_timestamp()
    from fast f
    where t.run_id = f.run_id and t.step_slug = f.step_slug and t.task_index = f.task_index
    returning t as task, f.ord
  )
  select coalesce(array_agg(c.task order by c.ord), '{}'),
         coalesce(array_agg(c.ord order by c.ord), '{}')
  into v_done, v_done_ord
  from completed c;

  if cardinality(v_done) > 0 then
    -- 2. their steps count down; a step whose last task completed completes with its output
    --    (a single step: its task's; a map step: its tasks' outputs in task order)
    with finished as (
      update pgflow.step_states ss
      set remaining_tasks = ss.remaining_tasks - g.tasks,
          status = case when ss.remaining_tasks = g.tasks then 'completed' else ss.status end,
          output = case when ss.remaining_tasks = g.tasks then
            case when g.step_type = 'single' then g.single_output else (
              select jsonb_agg(t.output order by t.task_index)
              from pgflow.step_tasks t
              where t.run_id = ss.run_id and t.step_slug = ss.step_slug
            ) end
          end,
          completed_at = case when ss.remaining_tasks = g.tasks then clock_timestamp() end
      from (
        select d.run_id, d.step_slug, count(*)::int as tasks, min(s.step_type) as step_type,
               (array_agg(d.output))[1] as single_output
        from unnest(v_done) d
        join pgflow.steps s on s.flow_slug = d.flow_slug and s.step_slug = d.step_slug
        group by d.run_id, d.step_slug
      ) g
      where ss.run_id = g.run_id and ss.step_slug = g.step_slug and ss.status = 'started'
      returning ss.flow_slug, ss.run_id, ss.step_slug, ss.status, ss.output
    ),
    -- 3. the children of the completed steps count their dependencies down (a map child
    --    learns its task count from its parent's output)
    children as (
      update pgflow.step_states c
      set remaining_deps = c.remaining_deps - x.parents,
          initial_tasks = case
            when x.step_type = 'map' and jsonb_typeof(x.parent_output) = 'array'
              then jsonb_array_length(x.parent_output)
            when x.step_type = 'map' then 0
            else c.initial_tasks
          end
      from (
        select f.run_id, d.step_slug, count(*)::int as parents, min(s.step_type) as step_type,
               (array_agg(f.output))[1] as parent_output
        from finished f
        join pgflow.deps d on d.flow_slug = f.flow_slug and d.dep_slug = f.step_slug
        join pgflow.steps s on s.flow_slug = d.flow_slug and s.step_slug = d.step_slug
        where f.status = 'completed'
        group by f.run_id, d.step_slug
      ) x
      where c.run_id = x.run_id and c.step_slug = x.step_slug and c.status = 'created'
      returning c.run_id
    ),
    -- 4. the runs count their steps down
    runs as (
      update pgflow.runs r
      set remaining_steps = r.remaining_steps - y.steps
      from (
        select f.run_id, count(*)::int as steps
        from finished f
        where f.status = 'completed'
        group by f.run_id
      ) y
      where r.run_id = y.run_id
      returning r.run_id, r.remaining_steps
    )
    select array(select run_id from runs), array(select run_id from runs where remaining_steps = 0)
    into v_finished_runs, v_ending_runs;

    -- their step:completed events (_emit), by run in batch order, then step order
    if cardinality(v_finished_runs) > 0 and to_regnamespace('realtime') is not null then
      perform pgflow._emit(
        'step:' || ss.step_slug || ':completed', pgflow._step_event(ss), ss.run_id
      )
      from (select distinct d.run_id, d.step_slug from unnest(v_done) d) d
      join pgflow.step_states ss on ss.run_id = d.run_id and ss.step_slug = d.step_slug
      join pgflow.steps s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
      where ss.status = 'completed'
      order by array_position(v_run_ids, ss.run_id), s.step_index;
    end if;

    -- 5. per run with a completed step: conditions and taskless cascades of the steps that
    --    became ready (_advance_run finds them, and completes the run when it is done). Only
    --    the runs where _advance_run would find something get it: those with a ready step that
    --    needs work before starting (its first query, set-based here); of the others, the runs
    --    with no step left are completed (maybe_complete_run, all _advance_run would have done)
    --    and the rest need nothing. Runs cannot change each other in between unless a flow
    --    has a sub-flow step (a child's end settles its parent): then every run gets the call.
    if exists (select 1 from pgflow.steps s where s.child_flow_slug is not null) then
      v_advance_runs := v_finished_runs;
    else
      v_advance_runs := array(
        select distinct ss.run_id
        from pgflow.step_states ss
        join pgflow.steps s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
        where ss.run_id = any(v_finished_runs)
          and ss.status = 'created'
          and ss.remaining_deps = 0
          and (
            ss.initial_tasks = 0
            or s.required_input_pattern is not null
            or s.forbidden_input_pattern is not null
            or (
              s.signal_schema is not null and exists (
                select 1 from pgflow.pending_signals ps
                where ps.run_id = ss.run_id and ps.step_slug = ss.step_slug
              )
            )
          )
      );
    end if;
    foreach v_run_id in array v_finished_runs loop
      if v_run_id = any(v_advance_runs) then
        perform pgflow._advance_run(v_run_id, false);
      elsif v_run_id = any(v_ending_runs) then
        perform pgflow.maybe_complete_run(v_run_id);
      end if;
    end loop;

    v_rows := v_done;
    v_rows_ord := v_done_ord;
  end if;

  -- the batch's messages, one pgmq call per flow, and the steps it made ready
  for v_archive in
    select d.flow_slug, array_agg(d.message_id order by d.message_id) as msg_ids
    from unnest(v_done) d
    where d.message_id is not null
    group by d.flow_slug
    order by d.flow_slug
  loop
    perform pgmq.archive(v_archive.flow_slug, v_archive.msg_ids);
  end loop;
  perform pgflow._start_ready_steps(v_run_ids);

  -- 6. everything else, exactly one by one in batch order: late, duplicate and fenced items
  --    (they change nothing) and every item of a run with a [TYPE_VIOLATION]; items naming a
  --    task that did not exist when the batch began return nothing
  for v_item in
    select e.ord, e.v
    from jsonb_array_elements(complete_tasks.results) with ordinality as e(v, ord)
    where not e.ord = any(v_done_ord) and not e.ord = any(v_unknown_ord)
    order by e.ord
  loop
    for v_task in
      select * from pgflow._complete_task(
        (v_item.v ->> 'run_id')::uuid,
        v_item.v ->> 'step_slug',
        (v_item.v ->> 'task_index')::int,
        coalesce(v_item.v -> 'output', 'null'::jsonb),
        (v_item.v ->> 'attempt')::int,
        (v_item.v ->> 'start_seq')::bigint
      )
    loop
      v_rows := v_rows || v_task;
      v_rows_ord := v_rows_ord || v_item.ord;
    end loop;
  end loop;

  return query
    select (v_rows[i]).*
    from generate_subscripts(v_rows, 1) as i
    order by v_rows_ord[i];
end;
$$;
