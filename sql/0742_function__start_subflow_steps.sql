-- _start_subflow_steps(run_ids): start the ready sub-flow steps (steps.child_flow_slug set) of
-- the given started runs: the step becomes 'started' and each of its tasks (one, or one per
-- element of a map step) is created 'started' with no pgmq message and no worker (attempt 1, a
-- new start_seq), then they start their child runs together (_start_children; with reuse, so
-- that a step started again by retry_run retries the children it had). Called first thing by _start_ready_steps,
-- which leaves these steps alone; returns at once when no flow has a sub-flow step.
-- Internal; the caller holds the runs' locks. Raises nothing of its own.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._start_subflow_steps(run_ids uuid[])
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_runs uuid[];
  v_slugs text[];
  v_indexes int[];
begin
  if not exists (select 1 from pgflow.steps s where s.child_flow_slug is not null) then
    return;
  end if;

  with started as (
    update pgflow.step_states ss
    set status = 'started',
        started_at = clock_timestamp(),
        remaining_tasks = ss.initial_tasks
    from pgflow.steps s
    where ss.run_id = any(_start_subflow_steps.run_ids)
      and ss.status = 'created'
      and ss.remaining_deps = 0
      and ss.initial_tasks > 0
      and s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
      and s.child_flow_slug is not null
      and (select r.status from pgflow.runs r where r.run_id = ss.run_id) = 'started'
    returning ss.flow_slug, ss.run_id, ss.step_slug, ss.initial_tasks
  ),
  created as (
    insert into pgflow.step_tasks (
      flow_slug, run_id, step_slug, task_index, status, attempts_count, start_seq, started_at
    )
    select st.flow_slug, st.run_id, st.step_slug, i, 'started', 1,
           nextval('pgflow.task_start_seq'), clock_timestamp()
    from started st
    cross join lateral generate_series(0, st.initial_tasks - 1) as i
    returning run_id, step_slug, task_index
  )
  select array_agg(c.run_id order by c.position, c.step_slug, c.task_index),
         array_agg(c.step_slug order by c.position, c.step_slug, c.task_index),
         array_agg(c.task_index order by c.position, c.step_slug, c.task_index)
  into v_runs, v_slugs, v_indexes
  from (
    select c.*, array_position(_start_subflow_steps.run_ids, c.run_id) as position
    from created c
  ) as c;

  if v_runs is not null then
    perform pgflow._start_children(v_runs, v_slugs, v_indexes, true);
  end if;
end;
$$;
