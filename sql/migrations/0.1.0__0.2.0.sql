-- Upgrade the pgflow-yaml core from 0.1.0 to 0.2.0 (run by `pgflow install`, in one transaction,
-- followed by the privilege files sql/0950_* onwards).
--
-- 0.2.0 makes the batch calls set-based where 0.1.0 worked task by task or run by run:
-- - complete_tasks is set-based: one statement completes the batch's tasks, one counts their
--   steps down, one their children, one the runs; one pgmq call per flow archives the messages
--   and the steps the batch made ready start together, with one queue insert per flow
--   (_start_ready_steps now takes an array of runs; _advance_run can leave the starting to its
--   caller);
-- - start_flows(flow_slug, inputs, run_ids) starts many runs in one set-based call (start_flow
--   is the one-input case of the same code, _start_runs);
-- - complete_tasks and fail_tasks check their batch argument with one helper
--   (_check_task_batch); _lock_runs is plpgsql, so its plan is kept per session; claim_tasks
--   looks its orphan messages up per message instead of by an anti-join.
-- And it closes a fencing hole: release_tasks no longer gives the attempt back by lowering
-- attempts_count (the next holder got the same attempt number, so a late report of the released
-- start was accepted); it counts the release in the new step_tasks.released_count, which
-- fail_task subtracts when it compares attempts with max_attempts.
set search_path to '';

alter table pgflow.step_tasks add column released_count int not null default 0;
alter table pgflow.step_tasks
  add constraint released_count_nonnegative check (released_count >= 0),
  add constraint released_count_within_attempts check (released_count <= attempts_count);

-- signatures that changed: the old functions go, the new ones are created below
drop function pgflow._start_ready_steps(uuid);
drop function pgflow._advance_run(uuid);

-- from sql/0335_function__check_task_batch.sql
-- _check_task_batch(items, caller): check the batch argument of complete_tasks / fail_tasks
-- before anything changes: a JSON array of objects, each with non-null "run_id", "step_slug"
-- and "task_index". Internal.
-- Raises: '<caller> expects a JSON array, got %'; '<caller> item % lacks "%"'.
set search_path to '';

create or replace function pgflow._check_task_batch(items jsonb, caller text)
returns void
language plpgsql
stable
set search_path to ''
as $$
declare
  v_item jsonb;
  v_position int := 0;
  v_key text;
begin
  if jsonb_typeof(_check_task_batch.items) is distinct from 'array' then
    raise exception '% expects a JSON array, got %',
      _check_task_batch.caller, coalesce(jsonb_typeof(_check_task_batch.items), 'null');
  end if;
  for v_item in select e from jsonb_array_elements(_check_task_batch.items) e loop
    foreach v_key in array array['run_id', 'step_slug', 'task_index'] loop
      if jsonb_typeof(v_item) is distinct from 'object' or v_item -> v_key is null
        or v_item -> v_key = 'null'::jsonb then
        raise exception '% item % lacks "%"', _check_task_batch.caller, v_position, v_key;
      end if;
    end loop;
    v_position := v_position + 1;
  end loop;
end;
$$;

-- from sql/0260_function__start_ready_steps.sql
-- _start_ready_steps(run_ids): start every created step of the given started runs whose
-- dependencies are done and that has tasks: one pgmq message and one queued task per task index,
-- sent with the step's start_delay (written straight into the flow's pgmq table, as
-- pgmq.send_batch would). One statement per flow whatever the number of runs and steps: the
-- batch calls (complete_tasks, start_flows) start the steps of a whole batch at once, which
-- spares the per-call planning of the queue insert (its table name differs per flow).
-- Messages are sent in the order of run_ids, then step_index, then task index.
-- Sends NOTIFY pgflow_tasks '<flow_slug>' when new tasks are visible at once and the queue held
-- no visible message before them (a worker that saw a visible message has not gone to sleep yet
-- and claims again on its own). Skipping the redundant notifications matters: PostgreSQL
-- serializes the commits of notifying transactions on one cluster-wide lock.
-- force_generic_plan: with an array argument PostgreSQL judged every custom plan cheaper than
-- the generic one and planned these statements again on each call, which cost the one-task
-- path (complete_task, start_flow) 10-20 % of its throughput.
-- Internal; the caller holds the runs' locks and has resolved conditions. Raises nothing.
set search_path to '';

create or replace function pgflow._start_ready_steps(run_ids uuid[])
returns void
language plpgsql
volatile
set search_path to ''
set plan_cache_mode to force_generic_plan
as $$
#variable_conflict use_column
declare
  v_flow record;
  v_wake boolean;
begin
  for v_flow in
    with started as (
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
           bool_or(t.delay = 0) as any_immediate
    from tasks t
    group by t.flow_slug
    order by min(t.run_position)
  loop
    -- one statement: was the queue idle (no visible message), send the messages straight into
    -- the flow's pgmq table (in the order of the arrays: msg_id order), and record one queued
    -- task per message. Kept simple: it is planned on every call.
    execute format(
      $q$
        with before as (
          select not exists (select 1 from pgmq.%1$I where vt <= clock_timestamp()) as idle
        ),
        sent as (
          insert into pgmq.%1$I (vt, message)
          select clock_timestamp() + make_interval(secs => t.delay),
                 jsonb_build_object(
                   'flow_slug', $1, 'run_id', t.run_id, 'step_slug', t.step_slug,
                   'task_index', t.task_index
                 )
          from unnest($2::uuid[], $3::text[], $4::int[], $5::int[])
            as t(run_id, step_slug, task_index, delay)
          returning msg_id, message
        ),
        queued as (
          insert into pgflow.step_tasks (flow_slug, run_id, step_slug, task_index, message_id)
          select $1, (s.message ->> 'run_id')::uuid, s.message ->> 'step_slug',
                 (s.message ->> 'task_index')::int, s.msg_id
          from sent s
        )
        select idle from before
      $q$,
      pgmq.format_table_name(v_flow.flow_slug, 'q')
    )
    into v_wake
    using v_flow.flow_slug, v_flow.run_ids, v_flow.step_slugs, v_flow.task_indexes,
      v_flow.delays;

    if v_flow.any_immediate and v_wake then
      perform pg_notify('pgflow_tasks', v_flow.flow_slug);
    end if;
  end loop;
end;
$$;

-- from sql/0270_function__advance_run.sql
-- _advance_run(run_id, start_steps): move a started run as far as it goes without a worker:
-- resolve the conditions of ready steps (when_unmet fail / skip / skip-cascade), complete
-- taskless steps (empty maps) and repeat until nothing changes, so steps that become ready
-- inside the cascade have their conditions checked too; then start the ready steps (unless
-- start_steps is false: a batch caller starts those of all its runs at once with
-- _start_ready_steps) and complete the run when done.
-- Internal; the caller holds the run lock.
-- Raises: 'Cascade loop exceeded safety limit of % iterations'.
set search_path to '';

create or replace function pgflow._advance_run(run_id uuid, start_steps boolean default true)
returns void
language plpgsql
volatile
set search_path to ''
as $$
#variable_conflict use_column
declare
  c_max_iterations constant int := 1000;
  v_iteration int := 0;
  v_changed boolean;
  v_slugs text[];
  v_types text[];
  v_initial int[];
  v_required jsonb[];
  v_forbidden jsonb[];
  v_when_unmet text[];
  v_input jsonb;
begin
  if not exists (
    select 1 from pgflow.runs r where r.run_id = _advance_run.run_id and r.status = 'started'
  ) then
    return;
  end if;

  loop
    v_iteration := v_iteration + 1;
    if v_iteration > c_max_iterations then
      raise exception 'Cascade loop exceeded safety limit of % iterations', c_max_iterations;
    end if;

    -- one snapshot of the ready steps that need work before starting: conditions to resolve or
    -- no tasks; children they make ready wait for the next round (conditions first, again)
    select array_agg(ss.step_slug order by s.step_index),
           array_agg(s.step_type order by s.step_index),
           array_agg(ss.initial_tasks order by s.step_index),
           array_agg(s.required_input_pattern order by s.step_index),
           array_agg(s.forbidden_input_pattern order by s.step_index),
           array_agg(s.when_unmet order by s.step_index)
    into v_slugs, v_types, v_initial, v_required, v_forbidden, v_when_unmet
    from pgflow.step_states ss
    join pgflow.steps s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
    where ss.run_id = _advance_run.run_id
      and ss.status = 'created'
      and ss.remaining_deps = 0
      and (
        ss.initial_tasks = 0
        or s.required_input_pattern is not null
        or s.forbidden_input_pattern is not null
      );
    exit when v_slugs is null;
    v_changed := false;

    -- conditions
    for i in 1 .. cardinality(v_slugs) loop
      continue when v_required[i] is null and v_forbidden[i] is null;
      continue when not exists (
        select 1 from pgflow.step_states ss
        where ss.run_id = _advance_run.run_id and ss.step_slug = v_slugs[i] and ss.status = 'created'
      );
      v_input := pgflow._condition_input(_advance_run.run_id, v_slugs[i]);
      continue when (v_required[i] is null or v_input @> v_required[i])
        and (v_forbidden[i] is null or not v_input @> v_forbidden[i]);

      v_changed := true;
      if v_when_unmet[i] = 'fail' then
        perform pgflow._fail_run(_advance_run.run_id, v_slugs[i], 'Condition not met');
        return;
      end if;
      perform pgflow._skip_steps(
        _advance_run.run_id, v_slugs[i], 'condition_unmet', v_when_unmet[i] = 'skip-cascade'
      );
    end loop;

    -- taskless steps (a map over an empty array) complete at once
    for i in 1 .. cardinality(v_slugs) loop
      continue when v_initial[i] is distinct from 0;
      if pgflow._complete_step(
        _advance_run.run_id, v_slugs[i], case when v_types[i] = 'map' then '[]'::jsonb end
      ) then
        v_changed := true;
      end if;
    end loop;

    exit when not v_changed;
  end loop;

  if _advance_run.start_steps then
    perform pgflow._start_ready_steps(array[_advance_run.run_id]);
  end if;
  perform pgflow.maybe_complete_run(_advance_run.run_id);
end;
$$;

-- from sql/0295_function__start_runs.sql
-- _start_runs(flow_slug, inputs, run_ids): start one run of a flow per input, set-based: the
-- run rows, one step state per run and step, then per run its conditions and taskless steps
-- (empty root maps), and finally the root steps' tasks of all the runs with one queue insert
-- (_start_ready_steps). A run may come back already completed or failed. run_ids[i] is the id
-- of the run of inputs[i] (callers pass fresh ids when the user gave none). Internal: the batch
-- behind start_flow and start_flows. Returns nothing; the runs are in pgflow.runs.
-- Raises: 'Flow "%" does not exist' (foreign_key_violation on runs_flow_slug_fkey, as 0.8.1);
-- 'Flow % has root map steps but input is NULL'; 'Flow % has root map steps but input is not an
-- array (got %)' (both with DETAIL 'inputs[i]', 0-based, when there are several inputs); runs_pkey (a run_id already used);
-- 'Cascade loop exceeded safety limit ...'.
set search_path to '';

create or replace function pgflow._start_runs(flow_slug text, inputs jsonb[], run_ids uuid[])
returns void
language plpgsql
volatile
set search_path to ''
as $$
#variable_conflict use_column
declare
  v_bad record;
  v_run_id uuid;
  v_message text;
begin
  if not exists (select 1 from pgflow.flows f where f.flow_slug = _start_runs.flow_slug) then
    raise exception 'Flow "%" does not exist', _start_runs.flow_slug
      using errcode = 'foreign_key_violation', constraint = 'runs_flow_slug_fkey';
  end if;

  if exists (
    select 1 from pgflow.steps s
    where s.flow_slug = _start_runs.flow_slug and s.step_type = 'map' and s.deps_count = 0
  ) then
    select u.input, u.ord - 1 as position into v_bad
    from unnest(_start_runs.inputs) with ordinality as u(input, ord)
    where u.input is null or jsonb_typeof(u.input) <> 'array'
    order by u.ord
    limit 1;
    if found then
      v_message := case when v_bad.input is null
        then format('Flow %s has root map steps but input is NULL', _start_runs.flow_slug)
        else format('Flow %s has root map steps but input is not an array (got %s)',
          _start_runs.flow_slug, jsonb_typeof(v_bad.input))
      end;
      if cardinality(_start_runs.inputs) > 1 then
        raise exception using message = v_message,
          detail = format('inputs[%s]', v_bad.position);
      end if;
      raise exception using message = v_message;
    end if;
  end if;

  insert into pgflow.runs (run_id, flow_slug, input, remaining_steps)
  select u.run_id, _start_runs.flow_slug, u.input,
         (select count(*) from pgflow.steps s where s.flow_slug = _start_runs.flow_slug)
  from unnest(_start_runs.run_ids, _start_runs.inputs) with ordinality as u(run_id, input, ord)
  order by u.ord;

  insert into pgflow.step_states (flow_slug, run_id, step_slug, remaining_deps, initial_tasks)
  select
    s.flow_slug,
    u.run_id,
    s.step_slug,
    s.deps_count,
    case
      when s.step_type = 'single' then 1
      when s.deps_count = 0 and jsonb_typeof(u.input) = 'array' then jsonb_array_length(u.input)
    end
  from unnest(_start_runs.run_ids, _start_runs.inputs) with ordinality as u(run_id, input, ord)
  cross join pgflow.steps s
  where s.flow_slug = _start_runs.flow_slug
  order by u.ord, s.step_index;

  -- conditions and taskless steps run by run; the ready steps of all runs start together
  foreach v_run_id in array _start_runs.run_ids loop
    perform pgflow._advance_run(v_run_id, false);
  end loop;
  perform pgflow._start_ready_steps(_start_runs.run_ids);
end;
$$;

-- from sql/0300_function_start_flow.sql
-- start_flow(flow_slug, input, run_id): start a run of a flow: one step state per step, then
-- conditions, taskless steps (empty root maps) and the root steps' tasks; the run may come back
-- already completed or failed. run_id is the caller's or a random one. Returns the run row.
-- Raises: 'Flow "%" does not exist' (foreign_key_violation on runs_flow_slug_fkey, as 0.8.1);
-- 'Flow % has root map steps but input is NULL'; 'Flow % has root map steps but input is not an
-- array (got %)'; runs_pkey (run_id already used); 'Cascade loop exceeded safety limit ...'.
set search_path to '';

create or replace function pgflow.start_flow(flow_slug text, input jsonb, run_id uuid default null)
returns setof pgflow.runs
language plpgsql
volatile
set search_path to ''
set enable_seqscan to off
as $$
#variable_conflict use_column
declare
  v_run_id uuid := coalesce(start_flow.run_id, pgflow._time_ordered_uuid());
begin
  perform pgflow._start_runs(start_flow.flow_slug, array[start_flow.input], array[v_run_id]);
  return query select * from pgflow.runs r where r.run_id = v_run_id;
end;
$$;

-- from sql/0303_function_start_flows.sql
-- start_flows(flow_slug, inputs, run_ids): start one run per element of the JSON array inputs
-- in one call, set-based (what start_flow does for one input, at a fraction of the cost per
-- run: the root steps' tasks of all the runs are sent with one queue insert). run_ids, when
-- given, holds the id of each run in input order (same length as inputs); otherwise fresh
-- time-ordered ids are used. Returns the run rows in input order.
-- Raises what start_flow raises (the root-map input errors name the input: DETAIL
-- 'inputs[i]'); 'start_flows expects a JSON array of inputs, got %'; 'start_flows got % inputs
-- but % run ids'.
set search_path to '';

create or replace function pgflow.start_flows(
  flow_slug text,
  inputs jsonb,
  run_ids uuid[] default null
)
returns setof pgflow.runs
language plpgsql
volatile
set search_path to ''
set enable_seqscan to off
as $$
#variable_conflict use_column
declare
  v_inputs jsonb[];
  v_run_ids uuid[];
begin
  if jsonb_typeof(start_flows.inputs) is distinct from 'array' then
    raise exception 'start_flows expects a JSON array of inputs, got %',
      coalesce(jsonb_typeof(start_flows.inputs), 'null');
  end if;
  v_inputs := array(select e from jsonb_array_elements(start_flows.inputs) e);
  if start_flows.run_ids is null then
    v_run_ids := array(select pgflow._time_ordered_uuid() from unnest(v_inputs));
  elsif cardinality(start_flows.run_ids) <> cardinality(v_inputs) then
    raise exception 'start_flows got % inputs but % run ids',
      cardinality(v_inputs), cardinality(start_flows.run_ids);
  else
    v_run_ids := array(select coalesce(u.id, pgflow._time_ordered_uuid())
                       from unnest(start_flows.run_ids) with ordinality as u(id, ord)
                       order by u.ord);
  end if;
  perform pgflow._start_runs(start_flows.flow_slug, v_inputs, v_run_ids);

  return query
    select r.*
    from unnest(v_run_ids) with ordinality as u(run_id, ord)
    join pgflow.runs r on r.run_id = u.run_id
    order by u.ord;
end;
$$;

-- from sql/0312_function_claim_tasks.sql
-- claim_tasks(flow_slugs, worker_id, qty, vt): read up to qty visible messages from the flows'
-- queues (going round them from a random one, so that a busy flow cannot starve the others) and
-- start their tasks, in one round trip. Messages whose task is
-- gone or finished are archived; messages of a task running elsewhere are left alone.
-- Returns claimed_task rows (attempt fences complete_task / fail_task; input is the handler's).
-- Raises: 'Flow "%" does not exist'; 'qty must be positive (got %)'.
set search_path to '';

create or replace function pgflow.claim_tasks(
  flow_slugs text[],
  worker_id uuid,
  qty int default 10,
  vt int default 5
)
returns setof pgflow.claimed_task
language plpgsql
volatile
set search_path to ''
set enable_seqscan to off
as $$
#variable_conflict use_column
declare
  v_missing text;
  v_flow_slug text;
  v_count int := coalesce(cardinality(claim_tasks.flow_slugs), 0);
  v_first int := floor(random() * greatest(v_count, 1))::int;
  v_left int := claim_tasks.qty;
  v_msg_ids bigint[];
  v_claimed pgflow.claimed_task[];
begin
  if claim_tasks.qty is null or claim_tasks.qty < 1 then
    raise exception 'qty must be positive (got %)', coalesce(claim_tasks.qty::text, 'null');
  end if;
  select u.slug into v_missing
  from unnest(claim_tasks.flow_slugs) u(slug)
  where not exists (select 1 from pgflow.flows f where f.flow_slug = u.slug)
  limit 1;
  if v_missing is not null then
    raise exception 'Flow "%" does not exist', v_missing;
  end if;

  for i in 0 .. v_count - 1 loop
    exit when v_left <= 0;
    v_flow_slug := claim_tasks.flow_slugs[(v_first + i) % v_count + 1];
    v_msg_ids := array(select m.msg_id from pgmq.read(v_flow_slug, claim_tasks.vt, v_left) m);
    continue when cardinality(v_msg_ids) = 0;

    v_claimed := array(
      select c from pgflow._start_tasks(v_flow_slug, v_msg_ids, claim_tasks.worker_id) c
    );
    v_left := v_left - cardinality(v_claimed);

    if cardinality(v_claimed) < cardinality(v_msg_ids) then
      -- a scalar subquery per message (by idx_step_tasks_message_id): as an anti-join the
      -- planner may read all of step_tasks
      perform pgmq.archive(v_flow_slug, array(
        select id from unnest(v_msg_ids) id
        where (
          select t.task_index from pgflow.step_tasks t
          where t.message_id = id
            and t.flow_slug = v_flow_slug
            and t.status in ('queued', 'started')
          limit 1
        ) is null
      ));
    end if;

    return query select * from unnest(v_claimed);
  end loop;
end;
$$;

-- from sql/0330_function__fail_task.sql
-- _fail_task(run_id, step_slug, task_index, error_message, attempt, error_type, retryable,
-- error_traceback): record a started task's failure. With attempts left (and retryable) the task
-- goes back to 'queued' and its message reappears after calculate_retry_delay(base_delay,
-- attempts) seconds (attempts: attempts_count - released_count, the starts that count);
-- otherwise the task fails and its step's when_exhausted applies: 'fail' fails the step and the
-- run (open tasks cancelled), 'skip' skips the step (its children run without it),
-- 'skip-cascade' skips it and everything downstream. Late, duplicate and fenced calls change
-- nothing. Internal: locks the run row first.
-- Returns the task row, or nothing for an unknown task. Raises nothing.
set search_path to '';

create or replace function pgflow._fail_task(
  run_id uuid,
  step_slug text,
  task_index int,
  error_message text,
  attempt int default null,
  error_type text default null,
  retryable boolean default true,
  error_traceback text default null
)
returns setof pgflow.step_tasks
language plpgsql
volatile
set search_path to ''
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

  if v_run_status is distinct from 'started'
    or v_task.status <> 'started'
    or (_fail_task.attempt is not null and _fail_task.attempt <> v_task.attempts_count)
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

-- from sql/0340_function__lock_runs.sql
-- _lock_runs(run_ids): lock the given runs' rows in run_id order, so that transactions touching
-- several runs (the batch calls) can never deadlock with each other or with single-run calls.
-- (plpgsql rather than sql: it runs once per batch, and plpgsql keeps its plan.)
-- Internal. Raises nothing.
set search_path to '';

create or replace function pgflow._lock_runs(run_ids uuid[])
returns void
language plpgsql
volatile
set search_path to ''
as $$
begin
  perform 1 from (
    select r.run_id from pgflow.runs r
    where r.run_id = any(_lock_runs.run_ids)
    order by r.run_id
    for no key update
  ) locked;
end;
$$;

-- from sql/0341_function_complete_tasks.sql
-- complete_tasks(results): complete_task for a batch in one transaction; results is a JSON
-- array of {"run_id", "step_slug", "task_index", "output", "attempt"} ("attempt" optional, a
-- missing "output" is JSON null). Runs are locked in run_id order first.
-- Set-based: the batch's started tasks are completed with one statement, their steps count down
-- (and complete) with one, the children of the completed steps with one, the runs with one;
-- conditions and taskless cascades are resolved per run that completed a step; the batch's
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
-- Returns the task rows, in batch order. Raises: 'complete_tasks expects a JSON array, got %';
-- 'complete_tasks item % lacks "%"'.
set search_path to '';

create or replace function pgflow.complete_tasks(results jsonb)
returns setof pgflow.step_tasks
language plpgsql
volatile
set search_path to ''
set enable_seqscan to off
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
  v_run_id uuid;
  v_archive record;
begin
  perform pgflow._check_task_batch(complete_tasks.results, 'complete_tasks');

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
           (e.v ->> 'attempt')::int as attempt
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
      returning r.run_id
    )
    select array(select run_id from runs)
    into v_finished_runs;

    -- 5. per run with a completed step: conditions and taskless cascades of the steps that
    --    became ready (_advance_run finds them, and completes the run when it is done)
    foreach v_run_id in array v_finished_runs loop
      perform pgflow._advance_run(v_run_id, false);
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
        (v_item.v ->> 'attempt')::int
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

-- from sql/0342_function_fail_tasks.sql
-- fail_tasks(failures): fail_task for a batch in one transaction; failures is a JSON array of
-- {"run_id", "step_slug", "task_index", "error_message", "attempt", "error_type",
-- "error_traceback", "retryable"} (all but the first three optional; retryable defaults to
-- true). Runs are locked in run_id order first.
-- Returns the task rows. Raises: 'fail_tasks expects a JSON array, got %';
-- 'fail_tasks item % lacks "%"'.
set search_path to '';

create or replace function pgflow.fail_tasks(failures jsonb)
returns setof pgflow.step_tasks
language plpgsql
volatile
set search_path to ''
set enable_seqscan to off
as $$
#variable_conflict use_column
declare
  v_item jsonb;
begin
  perform pgflow._check_task_batch(fail_tasks.failures, 'fail_tasks');

  perform pgflow._lock_runs(array(
    select (e ->> 'run_id')::uuid from jsonb_array_elements(fail_tasks.failures) e
  ));

  for v_item in select e from jsonb_array_elements(fail_tasks.failures) e loop
    return query select * from pgflow._fail_task(
      (v_item ->> 'run_id')::uuid,
      v_item ->> 'step_slug',
      (v_item ->> 'task_index')::int,
      v_item ->> 'error_message',
      (v_item ->> 'attempt')::int,
      v_item ->> 'error_type',
      coalesce((v_item ->> 'retryable')::boolean, true),
      v_item ->> 'error_traceback'
    );
  end loop;
end;
$$;

-- from sql/0500_function_release_tasks.sql
-- release_tasks(worker_id): hand the started tasks of a stopping worker back at once: each goes
-- back to 'queued' without using up an attempt (released_count + 1; attempts_count stays, so a
-- late report of the released start is fenced out) and its message becomes visible now (NOTIFY
-- pgflow_tasks). Returns the number of tasks released. Raises nothing.
set search_path to '';

create or replace function pgflow.release_tasks(worker_id uuid)
returns int
language plpgsql
volatile
set search_path to ''
set enable_seqscan to off
as $$
#variable_conflict use_column
declare
  v_released int := 0;
  v_flow record;
begin
  perform pgflow._lock_runs(array(
    select distinct t.run_id from pgflow.step_tasks t
    where t.last_worker_id = release_tasks.worker_id and t.status = 'started'
  ));

  for v_flow in
    with released as (
      update pgflow.step_tasks t
      set status = 'queued',
          released_count = t.released_count + 1,
          started_at = null,
          last_worker_id = null
      where t.last_worker_id = release_tasks.worker_id and t.status = 'started'
      returning t.flow_slug, t.message_id
    )
    select r.flow_slug, array_agg(r.message_id) as msg_ids
    from released r
    group by r.flow_slug
  loop
    perform pgmq.set_vt(v_flow.flow_slug, v_flow.msg_ids, 0);
    perform pg_notify('pgflow_tasks', v_flow.flow_slug);
    v_released := v_released + cardinality(v_flow.msg_ids);
  end loop;
  return v_released;
end;
$$;
