-- complete_tasks(results): complete_task for a batch in one transaction; results is a JSON
-- array of {"run_id", "step_slug", "task_index", "output", "attempt"} ("attempt" optional, a
-- missing "output" is JSON null). Runs are locked in run_id order first. The batch's messages
-- are archived with one pgmq call per flow and the steps it made ready start together at the
-- end (one queue insert per flow), so a batch costs much less than its tasks one by one.
-- Returns the task rows. Raises: 'complete_tasks expects a JSON array, got %';
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
  v_item jsonb;
  v_task pgflow.step_tasks;
  v_run_ids uuid[] := '{}';
  v_ended_flows text[] := '{}';
  v_ended_msgs bigint[] := '{}';
  v_archive record;
begin
  perform pgflow._check_task_batch(complete_tasks.results, 'complete_tasks');

  perform pgflow._lock_runs(array(
    select (e ->> 'run_id')::uuid from jsonb_array_elements(complete_tasks.results) e
  ));

  for v_item in select e from jsonb_array_elements(complete_tasks.results) e loop
    for v_task in
      select * from pgflow._complete_task(
        (v_item ->> 'run_id')::uuid,
        v_item ->> 'step_slug',
        (v_item ->> 'task_index')::int,
        coalesce(v_item -> 'output', 'null'::jsonb),
        (v_item ->> 'attempt')::int,
        deferred => true
      )
    loop
      return next v_task;
      v_run_ids := v_run_ids || v_task.run_id;
      if v_task.status in ('completed', 'failed') and v_task.message_id is not null then
        -- ended by this call, or earlier (archiving an archived message changes nothing)
        v_ended_flows := v_ended_flows || v_task.flow_slug;
        v_ended_msgs := v_ended_msgs || v_task.message_id;
      end if;
    end loop;
  end loop;

  for v_archive in
    select m.flow_slug, array_agg(m.msg_id order by m.msg_id) as msg_ids
    from unnest(v_ended_flows, v_ended_msgs) as m(flow_slug, msg_id)
    group by m.flow_slug
    order by m.flow_slug
  loop
    perform pgmq.archive(v_archive.flow_slug, v_archive.msg_ids);
  end loop;

  perform pgflow._start_ready_steps(v_run_ids);
end;
$$;
