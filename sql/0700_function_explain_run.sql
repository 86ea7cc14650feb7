-- explain_run(run_id): why each unfinished part of a run is not running now, one row per step
-- that has no tasks in flight yet and one per unfinished task of a started step, in step then
-- task order: (step_slug, task_index (null: the step), reason, detail, until (null: unknown)).
-- Reasons: 'run_queued' (the run waits behind its flow's concurrency limit: detail position,
-- holding_runs, from pgflow._queued_run_position), 'waiting_for_dependencies' (detail
-- dependencies: the unfinished ones), 'starting' (ready, its tasks are being created),
-- 'waiting_for_signal' (until: its timeout), 'running' (detail worker_id, started_at, attempt;
-- until: its timeout), 'concurrency_full' (detail key, limit, in_flight, holding_runs),
-- 'rate_limited' (detail key, limit, per; until: the window has room), 'retry_backoff' (detail
-- attempt, error_message; until: visible again), 'start_delay' (until: visible), 'held_back'
-- (hidden for a moment after a limit held it back or a release; until: visible),
-- 'waiting_for_worker' (detail ahead: visible messages of the flow before it, live_workers:
-- pgflow.live_workers of the flow), 'waiting_for_child_run' (a started task of a sub-flow step:
-- detail child_run_id, child_flow, child_status (its latest child; a child queued behind its
-- flow's concurrency limit says 'queued'), attempt; until: the step's own timeout, null
-- without one). A sub-flow task waiting out its retry delay says 'retry_backoff' (until: when
-- start_due_subflows may start it again). A finished run has no rows. Runs as its owner (it reads
-- the queue and the workers), so a client role may call it.
-- Raises: 'Run "%" does not exist' (SQLSTATE PF011).
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.explain_run(run_id uuid)
returns table (step_slug text, task_index int, reason text, detail jsonb, until timestamptz)
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_run pgflow.runs;
  v_queue text;
  v_live int;
  v_now timestamptz := pg_catalog.clock_timestamp();
  v_row record;
  v_vt timestamptz;
  v_used int;
  v_oldest timestamptz;
  v_ahead int;
begin
  select * into v_run from pgflow.runs r where r.run_id = explain_run.run_id;
  if not found then
    raise exception 'Run "%" does not exist', explain_run.run_id using errcode = 'PF011';
  end if;
  if v_run.status in ('completed', 'failed', 'cancelled') then
    return;
  end if;
  if v_run.status = 'queued' then
    -- resolved only here: the flow-level half of flow control defines it
    return query
      select s.step_slug, null::int, 'run_queued',
             jsonb_build_object('position', p.position, 'holding_runs', to_jsonb(p.holding_runs)),
             null::timestamptz
      from pgflow.steps s
      cross join pgflow._queued_run_position(explain_run.run_id) p
      where s.flow_slug = v_run.flow_slug
      order by s.step_index;
    return;
  end if;

  v_queue := pgmq.format_table_name(v_run.flow_slug, 'q');
  v_live := pgflow.live_workers(v_run.flow_slug);

  for v_row in
    select ss.step_slug, ss.status as step_status, ss.remaining_deps, ss.started_at as step_started,
           s.step_index, s.opt_concurrency_limit, s.opt_concurrency_key, s.opt_rate_limit,
           s.opt_rate_per, s.opt_rate_key, coalesce(s.opt_start_delay, 0) as start_delay,
           coalesce(s.opt_timeout, f.opt_timeout) as timeout,
           s.child_flow_slug, s.opt_timeout as step_timeout,
           t.task_index, t.status as task_status, t.message_id, t.attempts_count, t.error_message,
           t.started_at, t.last_worker_id, t.fc_key, t.rate_key, t.priority
    from pgflow.step_states ss
    join pgflow.steps s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
    join pgflow.flows f on f.flow_slug = ss.flow_slug
    left join pgflow.step_tasks t
      on ss.status = 'started' and t.run_id = ss.run_id and t.step_slug = ss.step_slug
         and t.status in ('queued', 'started')
    where ss.run_id = explain_run.run_id
      and ss.status in ('created', 'waiting', 'started')
    order by s.step_index, t.task_index
  loop
    step_slug := v_row.step_slug;
    task_index := v_row.task_index;
    detail := '{}';
    until := null;

    if v_row.step_status = 'created' then
      task_index := null;
      if v_row.remaining_deps > 0 then
        reason := 'waiting_for_dependencies';
        detail := jsonb_build_object('dependencies', coalesce((
          select jsonb_agg(d.dep_slug order by d.dep_slug)
          from pgflow.deps d
          join pgflow.step_states ds on ds.run_id = explain_run.run_id and ds.step_slug = d.dep_slug
          where d.flow_slug = v_run.flow_slug and d.step_slug = v_row.step_slug
            and ds.status not in ('completed', 'skipped')
        ), '[]'::jsonb));
      else
        reason := 'starting';
      end if;
    elsif v_row.step_status = 'waiting' then
      task_index := null;
      reason := 'waiting_for_signal';
      until := v_row.step_started + pg_catalog.make_interval(secs => v_row.timeout);
    elsif v_row.task_status is null then
      continue;  -- a started step whose tasks are all finished: it is completing
    elsif v_row.child_flow_slug is not null and v_row.task_status = 'started' then
      reason := 'waiting_for_child_run';
      select jsonb_build_object('child_run_id', c.run_id, 'child_flow', c.flow_slug,
               'child_status', c.status, 'attempt', v_row.attempts_count)
      into detail
      from pgflow.runs c
      where c.parent_run_id = explain_run.run_id and c.parent_step_slug = v_row.step_slug
        and c.parent_task_index = v_row.task_index
      order by c.started_at desc, c.run_id desc
      limit 1;
      detail := coalesce(detail, jsonb_build_object('child_run_id', null,
        'child_flow', v_row.child_flow_slug, 'child_status', null,
        'attempt', v_row.attempts_count));
      until := v_row.started_at + pg_catalog.make_interval(secs => v_row.step_timeout);
    elsif v_row.child_flow_slug is not null then
      -- a queued sub-flow task has no message: it waits out its retry delay
      reason := 'retry_backoff';
      detail := jsonb_build_object('attempt', v_row.attempts_count,
        'error_message', v_row.error_message);
      select d.due_at into until from pgflow.subflow_retries d
      where d.run_id = explain_run.run_id and d.step_slug = v_row.step_slug
        and d.task_index = v_row.task_index;
    elsif v_row.task_status = 'started' then
      reason := 'running';
      detail := jsonb_build_object('worker_id', v_row.last_worker_id,
        'started_at', v_row.started_at, 'attempt', v_row.attempts_count);
      until := v_row.started_at + pg_catalog.make_interval(secs => v_row.timeout);
    else
      reason := null;
      execute pg_catalog.format('select q.vt from pgmq.%I q where q.msg_id = $1', v_queue)
        into v_vt using v_row.message_id;
      -- a retry backoff or a start delay is a wait of its own; a limit is checked after them
      if v_vt > v_now and v_row.error_message is not null then
        reason := 'retry_backoff';
        detail := jsonb_build_object('attempt', v_row.attempts_count,
          'error_message', v_row.error_message);
        until := v_vt;
      elsif v_vt > v_now and v_row.attempts_count = 0 and v_row.start_delay > 0
        and v_vt > v_row.step_started + pg_catalog.make_interval(secs => 1) then
        reason := 'start_delay';
        until := v_vt;
      end if;
      if reason is null and v_row.opt_concurrency_limit is not null
        and v_row.fc_key is not null then
        select count(*)::int into v_used
        from pgflow.step_tasks u
        where u.flow_slug = v_run.flow_slug and u.step_slug = v_row.step_slug
          and u.status = 'started' and u.fc_key is not null
          and (v_row.opt_concurrency_key is null or u.fc_key = v_row.fc_key);
        if v_used >= v_row.opt_concurrency_limit then
          reason := 'concurrency_full';
          detail := jsonb_build_object(
            'key', case when v_row.opt_concurrency_key is null then null else v_row.fc_key end,
            'limit', v_row.opt_concurrency_limit,
            'in_flight', v_used,
            'holding_runs', (
              select coalesce(jsonb_agg(distinct u.run_id), '[]'::jsonb)
              from pgflow.step_tasks u
              where u.flow_slug = v_run.flow_slug and u.step_slug = v_row.step_slug
                and u.status = 'started' and u.fc_key is not null
                and (v_row.opt_concurrency_key is null or u.fc_key = v_row.fc_key)
            )
          );
        end if;
      end if;
      if reason is null and v_row.opt_rate_limit is not null and v_row.rate_key is not null then
        select count(*)::int, min(rs.started_at) into v_used, v_oldest
        from pgflow.rate_starts rs
        where rs.flow_slug = v_run.flow_slug and rs.step_slug = v_row.step_slug
          and rs.rate_key = v_row.rate_key
          and rs.started_at > v_now - pg_catalog.make_interval(secs => v_row.opt_rate_per);
        if v_used >= v_row.opt_rate_limit then
          reason := 'rate_limited';
          detail := jsonb_build_object(
            'key', case when v_row.opt_rate_key is null then null else v_row.rate_key end,
            'limit', v_row.opt_rate_limit, 'per', v_row.opt_rate_per);
          until := v_oldest + pg_catalog.make_interval(secs => v_row.opt_rate_per);
        end if;
      end if;
      if reason is null and v_vt > v_now then
        reason := 'held_back';
        until := v_vt;
      elsif reason is null then
        execute pg_catalog.format(
          'select count(*)::int from pgmq.%I q where q.vt <= $1 and q.msg_id < $2', v_queue
        ) into v_ahead using v_now, v_row.message_id;
        reason := 'waiting_for_worker';
        detail := jsonb_build_object('ahead', v_ahead, 'live_workers', v_live);
      end if;
    end if;
    return next;
  end loop;
end;
$$;
