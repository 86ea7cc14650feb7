-- release_tasks(worker_id): hand the started tasks of a stopping worker back at once: each goes
-- back to 'queued' without using up an attempt (released_count + 1; attempts_count stays, so a
-- late report of the released start is fenced out) and its message becomes visible now (NOTIFY
-- pgflow_tasks). Returns the number of tasks released. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.release_tasks(worker_id uuid)
returns int
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan to off
set jit to off
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
