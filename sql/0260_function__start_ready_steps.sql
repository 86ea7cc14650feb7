-- _start_ready_steps(run_id): start every created step of a started run whose dependencies are
-- done and that has tasks: one pgmq message and one queued task per task index, sent with the
-- step's start_delay (written straight into the flow's pgmq table, as pgmq.send_batch would).
-- Sends NOTIFY pgflow_tasks '<flow_slug>' when the new tasks are visible at once and the queue
-- held no visible message before them (a worker that saw a visible message has not gone to sleep
-- yet and claims again on its own). Skipping the redundant notifications matters: PostgreSQL
-- serializes the commits of notifying transactions on one cluster-wide lock.
-- Internal; the caller holds the run lock and has resolved conditions. Raises nothing.
set search_path to '';

create or replace function pgflow._start_ready_steps(run_id uuid)
returns void
language plpgsql
volatile
set search_path to ''
as $$
#variable_conflict use_column
declare
  v_step record;
  v_wake boolean;
begin
  for v_step in
    with started as (
      update pgflow.step_states ss
      set status = 'started',
          started_at = clock_timestamp(),
          remaining_tasks = ss.initial_tasks
      from pgflow.runs r
      where ss.run_id = _start_ready_steps.run_id
        and r.run_id = ss.run_id
        and r.status = 'started'
        and ss.status = 'created'
        and ss.remaining_deps = 0
        and ss.initial_tasks > 0
      returning ss.flow_slug, ss.step_slug, ss.initial_tasks
    )
    select st.flow_slug, st.step_slug, st.initial_tasks, coalesce(s.opt_start_delay, 0) as delay
    from started st
    join pgflow.steps s on s.flow_slug = st.flow_slug and s.step_slug = st.step_slug
    order by s.step_index
  loop
    -- one statement: was the queue idle (no visible message), send the messages straight into
    -- the flow's pgmq table, and record one queued task per message
    execute format(
      $q$
        with before as (
          select not exists (select 1 from pgmq.%1$I where vt <= clock_timestamp()) as idle
        ),
        sent as (
          insert into pgmq.%1$I (vt, message)
          select clock_timestamp() + make_interval(secs => $4),
                 jsonb_build_object('flow_slug', $1, 'run_id', $2, 'step_slug', $3, 'task_index', i)
          from generate_series(0, $5 - 1) i
          order by i
          returning msg_id, (message ->> 'task_index')::int as task_index
        ),
        queued as (
          insert into pgflow.step_tasks (flow_slug, run_id, step_slug, task_index, message_id)
          select $1, $2, $3, s.task_index, s.msg_id from sent s
        )
        select idle from before
      $q$,
      pgmq.format_table_name(v_step.flow_slug, 'q')
    )
    into v_wake
    using v_step.flow_slug, _start_ready_steps.run_id, v_step.step_slug, v_step.delay,
      v_step.initial_tasks;

    if v_step.delay = 0 and v_wake then
      perform pg_notify('pgflow_tasks', v_step.flow_slug);
    end if;
  end loop;
end;
$$;
