-- _start_ready_steps(run_ids): start every created step of the given started runs whose
-- dependencies are done and that has tasks: one pgmq message and one queued task per task index,
-- sent with the step's start_delay (written straight into the flow's pgmq table, as
-- pgmq.send_batch would). One statement per flow whatever the number of runs and steps: the
-- batch calls (complete_tasks, start_flows) start the steps of a whole batch at once, which
-- spares the per-call planning of the queue insert (its table name differs per flow). That
-- insert is a statement prepared once per session and queue and reused by name: only when it is
-- this function's text, SQL-prepared with its parameter types; every name in the text is
-- schema-qualified (parameter and cast types, functions, operators, tables), so a copy the
-- caller prepared first under a search_path of its own means the same and runs only the core.
-- Messages are sent in the order of run_ids, then step_index, then task index.
-- Sends NOTIFY pgflow_tasks '<flow_slug>' when new tasks are visible at once and the queue held
-- no visible message before them (a worker that saw a visible message has not gone to sleep yet
-- and claims again on its own). Skipping the redundant notifications matters: PostgreSQL
-- serializes the commits of notifying transactions on one cluster-wide lock. Inside
-- complete_and_claim (transaction setting pgflow.defer_wakes = 'on') the flow is added to
-- pgflow.deferred_wakes instead, and complete_and_claim notifies after its claim if needed.
-- force_generic_plan: with an array argument PostgreSQL judged every custom plan cheaper than
-- the generic one and planned these statements again on each call, which cost the one-task
-- path (complete_task, start_flow) 10-20 % of its throughput.
-- Sends step:started per started step (_emit), by run in run_ids order, then by step slug (as
-- 0.8.1); without Realtime the only cost is a filter on the aggregate.
-- A ready signal step (steps.signal_schema set) gets no task: it becomes 'waiting'. A ready
-- sub-flow step (steps.child_flow_slug set) starts child runs instead (_start_subflow_steps).
-- The new tasks of a flow under flow control are written with their tags (the values
-- pgflow._fc_tag writes, computed in the insert itself: no function call per task).
-- Internal; the caller holds the runs' locks and has resolved conditions. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._start_ready_steps(run_ids uuid[])
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode to force_generic_plan
as $$
#variable_conflict use_column
declare
  v_flow record;
  v_wake boolean;
  v_realtime boolean := to_regnamespace('realtime') is not null;
  v_table text;
  v_name text;
  v_prepare text;
  v_types pg_catalog.regtype[] := array['pg_catalog.text', 'pg_catalog.uuid[]',
    'pg_catalog.text[]', 'pg_catalog.int4[]', 'pg_catalog.int4[]', 'pg_catalog.bool']
    ::pg_catalog.regtype[];
begin
  -- (the call only when some flow has a sub-flow step: a function call costs more than the test)
  if exists (select 1 from pgflow.steps s where s.child_flow_slug is not null) then
    perform pgflow._start_subflow_steps(_start_ready_steps.run_ids);
  end if;

  for v_flow in
    -- signal steps hold no task: they wait for pgflow.signal (or their timeout); a map step
    -- counts the elements whose signal came early as done (in this statement rather than one
    -- of its own: they are other rows than the steps started below, and one statement fewer
    -- is measurably cheaper on the one-task path)
    with waiting as (
      update pgflow.step_states ss
      set status = 'waiting',
          started_at = clock_timestamp(),
          remaining_tasks = ss.initial_tasks - (
            select count(*)::int from pgflow.pending_signals ps
            where ps.run_id = ss.run_id and ps.step_slug = ss.step_slug
              and ps.task_index < ss.initial_tasks
          )
      from pgflow.steps s
      where ss.run_id = any(_start_ready_steps.run_ids)
        and ss.status = 'created'
        and ss.remaining_deps = 0
        and ss.initial_tasks > 0
        and s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
        and s.signal_schema is not null
        and (select r.status from pgflow.runs r where r.run_id = ss.run_id) = 'started'
    ),
    started as (
      update pgflow.step_states ss
      set status = 'started',
          started_at = clock_timestamp(),
          remaining_tasks = ss.initial_tasks
      where ss.run_id = any(_start_ready_steps.run_ids)
        and ss.status = 'created'
        and ss.remaining_deps = 0
        and ss.initial_tasks > 0
        -- a subquery rather than a join: always the primary key, never idx_runs_status
        and (select r.status from pgflow.runs r where r.run_id = ss.run_id) = 'started'
        and (
          select s.signal_schema is null and s.child_flow_slug is null from pgflow.steps s
          where s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
        )
      returning ss.flow_slug, ss.run_id, ss.step_slug, ss.initial_tasks
    ),
    tasks as (
      select st.flow_slug, st.run_id, st.step_slug, i as task_index,
             coalesce(s.opt_start_delay, 0) as delay,
             array_position(_start_ready_steps.run_ids, st.run_id) as run_position,
             s.step_index
      from started st
      join pgflow.steps s on s.flow_slug = st.flow_slug and s.step_slug = st.step_slug
      cross join lateral generate_series(0, st.initial_tasks - 1) as i
    )
    select t.flow_slug,
           array_agg(t.run_id order by t.run_position, t.step_index, t.task_index) as run_ids,
           array_agg(t.step_slug order by t.run_position, t.step_index, t.task_index)
             as step_slugs,
           array_agg(t.task_index order by t.run_position, t.step_index, t.task_index)
             as task_indexes,
           array_agg(t.delay order by t.run_position, t.step_index, t.task_index) as delays,
           bool_or(t.delay = 0) as any_immediate,
           -- the started steps, for their events (one task 0 per step)
           array_agg(t.run_id order by t.run_position, t.step_slug)
             filter (where v_realtime and t.task_index = 0) as started_run_ids,
           array_agg(t.step_slug order by t.run_position, t.step_slug)
             filter (where v_realtime and t.task_index = 0) as started_slugs
    from tasks t
    group by t.flow_slug
    order by min(t.run_position)
  loop
    -- one statement: was the queue idle (no visible message), send the messages straight into
    -- the flow's pgmq table (in the order of the arrays: msg_id order), and record one queued
    -- task per message. It names the flow's queue table, so it is prepared once per session and
    -- queue (pg_prepared_statements names it pgflow_start_<md5 of the queue table>; replaced
    -- when the statement under that name is not this one, below) and runs a generic plan:
    -- planned on every call it cost about as much as it ran (~0.5 ms for 10 tasks)
    v_table := pgmq.format_table_name(v_flow.flow_slug, 'q');
    v_name := 'pgflow_start_' || pg_catalog.md5(v_table);
    v_prepare := pg_catalog.format(
      $q$prepare %2$I(pg_catalog.text, pg_catalog.uuid[], pg_catalog.text[], pg_catalog.int4[],
          pg_catalog.int4[], pg_catalog.bool) as
        with before as (
          select not exists (
            select 1 from pgmq.%1$I where vt operator(pg_catalog.<=) pg_catalog.clock_timestamp()
          ) as idle
        ),
        sent as (
          insert into pgmq.%1$I (vt, message)
          select pg_catalog.clock_timestamp()
                   operator(pg_catalog.+) pg_catalog.make_interval(secs => t.delay),
                 pg_catalog.jsonb_build_object(
                   'flow_slug', $1, 'run_id', t.run_id, 'step_slug', t.step_slug,
                   'task_index', t.task_index
                 )
          from rows from (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4),
                          pg_catalog.unnest($5))
            as t(run_id, step_slug, task_index, delay)
          returning msg_id, message
        ),
        queued as (
          insert into pgflow.step_tasks (
            flow_slug, run_id, step_slug, task_index, message_id, fc_key, rate_key, priority
          )
          select $1, x.run_id, x.step_slug, x.task_index, s.msg_id,
                 g.fc_key, g.rate_key, g.priority
          from sent s
          cross join lateral (
            select (s.message operator(pg_catalog.->>) 'run_id')::pg_catalog.uuid as run_id,
                   s.message operator(pg_catalog.->>) 'step_slug' as step_slug,
                   (s.message operator(pg_catalog.->>) 'task_index')::pg_catalog.int4
                     as task_index
          ) as x
          -- flow control ($6): the task's tags, written with the task (the values
          -- pgflow._fc_tag writes; a single step's key under "run." is read from the run input
          -- in place, other keys through pgflow._fc_value)
          left join lateral (
            select coalesce(
                     case when st.opt_concurrency_key is null then null
                       when st.step_type operator(pg_catalog.=) 'single'
                         and st.opt_concurrency_key operator(pg_catalog.~~) 'run.%%'
                         then coalesce(r.input operator(pg_catalog.#>>) (pg_catalog.string_to_array(
                           st.opt_concurrency_key, '.'))[2:], 'null')
                       else pgflow._fc_value(x.run_id, x.step_slug, x.task_index,
                         st.opt_concurrency_key) end,
                     v.rate_key) as fc_key,
                   v.rate_key,
                   coalesce(r.priority, st.opt_priority, f.opt_priority, 0) as priority
            from pgflow.steps st
            join pgflow.runs r on r.run_id operator(pg_catalog.=) x.run_id
            join pgflow.flows f on f.flow_slug operator(pg_catalog.=) st.flow_slug
            cross join lateral (
              select case when st.opt_rate_key is null then ''
                when st.step_type operator(pg_catalog.=) 'single'
                  and st.opt_rate_key operator(pg_catalog.~~) 'run.%%'
                  then coalesce(r.input operator(pg_catalog.#>>) (pg_catalog.string_to_array(
                    st.opt_rate_key, '.'))[2:], 'null')
                else pgflow._fc_value(x.run_id, x.step_slug, x.task_index, st.opt_rate_key)
                end as rate_key
            ) as v
            where $6 and st.flow_slug operator(pg_catalog.=) $1
              and st.step_slug operator(pg_catalog.=) x.step_slug
          ) as g on true
        )
        select idle from before
      $q$,
      v_table, v_name
    );
    -- prepared once per session; reused only if it is this very text with these parameter
    -- types, and the text names everything with its schema (_prepare_once says why)
    perform pgflow._prepare_once(v_name, v_prepare, v_types);
    execute pg_catalog.format('execute %I(%L, %L, %L, %L, %L, %L)', v_name,
      v_flow.flow_slug, v_flow.run_ids, v_flow.step_slugs, v_flow.task_indexes, v_flow.delays,
      coalesce((select f.flow_control from pgflow.flows f where f.flow_slug = v_flow.flow_slug),
        false))
    into v_wake;

    if v_flow.any_immediate and v_wake then
      if pg_catalog.current_setting('pgflow.defer_wakes', true) = 'on' then
        -- complete_and_claim: its claim decides whether the wake-up is still needed
        perform pg_catalog.set_config('pgflow.deferred_wakes',
          pg_catalog.current_setting('pgflow.deferred_wakes', true) || ',' || v_flow.flow_slug,
          true);
      else
        perform pg_notify('pgflow_tasks', v_flow.flow_slug);
      end if;
    end if;

    if v_flow.started_slugs is not null then
      perform pgflow._emit('step:' || ss.step_slug || ':started', pgflow._step_event(ss), ss.run_id)
      from unnest(v_flow.started_run_ids, v_flow.started_slugs)
        with ordinality as u(run_id, slug, ord)
      join pgflow.step_states ss on ss.run_id = u.run_id and ss.step_slug = u.slug
      order by u.ord;
    end if;
  end loop;
end;
$$;
